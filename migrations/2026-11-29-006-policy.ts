import type { Migration } from 'kysely';
import { addColumn, tableOptions, type AnyDB } from './helpers.js';

/** Policy: what the pull gate does with unscanned images, allowlist expiry, system-wide settings (allowlist, read-only). */
export const policy: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'projects', 'unscanned_policy', 'varchar(16)', { notNull: true, defaultTo: 'block' });
    await addColumn(db, 'projects', 'cve_allowlist_expires_at', 'bigint');
    await tableOptions(
      db,
      db.schema
        .createTable('system_settings')
        .ifNotExists()
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    ).execute();
  },
};
