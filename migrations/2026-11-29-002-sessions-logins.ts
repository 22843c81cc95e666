import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/** UI sessions and login failure counters live in the DB so that several core replicas share them. */
export const sessionsLogins: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('sessions')
        .ifNotExists()
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull())
        .addColumn('csrf_token', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('sessions_user_fk', ['user_id'], 'users', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'sessions_expires_idx', 'sessions', ['expires_at']);

    await tableOptions(
      db,
      db.schema
        .createTable('login_failures')
        .ifNotExists()
        .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('first_at', 'bigint', (c) => c.notNull())
        .addColumn('locked_until', 'bigint', (c) => c.notNull()),
    ).execute();
  },
};
