import type { Migration } from 'kysely';
import { tableOptions, type AnyDB } from './helpers.js';

/** Tag retention: one policy per project (its rules as JSON, and an optional cron schedule). */
export const retention: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('retention_policies')
        .ifNotExists()
        .addColumn('project_id', 'integer', (c) => c.primaryKey())
        .addColumn('rules', 'text', (c) => c.notNull())
        .addColumn('schedule', 'varchar(128)')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('retention_policies_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
  },
};
