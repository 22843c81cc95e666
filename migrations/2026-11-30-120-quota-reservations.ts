import { sql, type Migration } from 'kysely';
import { createIndex, isMysql, tableOptions, type AnyDB } from './helpers.js';

/**
 * Manifest pushes a quota check accepted and Berth has not imported yet, shared by every core replica: the registry
 * holds them the moment it answers, the usage counts them only once their notification is applied.
 */
export const quotaReservations: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('quota_reservations')
        .ifNotExists()
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('digest', 'varchar(100)', (c) => c.notNull())
        .addColumn('manifest_bytes', 'bigint', (c) => c.notNull())
        .addColumn('added_bytes', 'bigint', (c) => c.notNull())
        .addColumn('blobs', 'text', (c) => c.notNull())
        .addColumn('accepted_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull()),
    ).execute();
    // a manifest body may be 4 MiB: its blob map does not fit MySQL's 64 KiB `text`
    if (isMysql(db)) await sql`alter table quota_reservations modify blobs longtext not null`.execute(db);
    await createIndex(db, 'quota_reservations_project', 'quota_reservations', ['project_id', 'expires_at']);
    await createIndex(db, 'quota_reservations_manifest', 'quota_reservations', ['repository', 'digest']);
  },
};
