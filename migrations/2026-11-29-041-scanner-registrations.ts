import type { Migration } from 'kysely';
import { tableOptions, type AnyDB } from './helpers.js';

/**
 * External scanner adapters become a registry that system admins keep (Harbor's model): project admins only pick
 * one of them. A system-wide adapter set before becomes the registration `default`; adapters that project admins had
 * set (any URL of their choosing: a server-side request forgery) are dropped, and those projects use the system's.
 */
export const scannerRegistrations: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('scanner_registrations')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('url', 'varchar(1024)', (c) => c.notNull())
        .addColumn('authorization', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    ).execute();
    const old = await db.selectFrom('system_settings').select(['name', 'value']).where('name', 'like', 'scanner:%').execute();
    for (const row of old as { name: string; value: string }[]) {
      let v: { url?: unknown; authorization?: unknown; registration?: unknown } | null = null;
      try {
        v = JSON.parse(row.value);
      } catch {
        /* unreadable: dropped */
      }
      if (v && typeof v.registration === 'number') continue; // already the new form
      await db.deleteFrom('system_settings').where('name', '=', row.name).execute();
      if (row.name !== 'scanner:system' || !v || typeof v.url !== 'string') continue;
      const now = Date.now();
      const have = await db.selectFrom('scanner_registrations').select('id').where('name', '=', 'default').executeTakeFirst();
      if (!have)
        await db
          .insertInto('scanner_registrations')
          .values({ name: 'default', url: v.url, authorization: typeof v.authorization === 'string' ? v.authorization : null, created_at: now, updated_at: now })
          .execute();
      const reg = await db.selectFrom('scanner_registrations').select('id').where('name', '=', 'default').executeTakeFirstOrThrow();
      await db
        .insertInto('system_settings')
        .values({ name: 'scanner:system', value: JSON.stringify({ registration: Number(reg.id) }), updated_at: now })
        .execute();
    }
  },
};
