import type { Migration } from 'kysely';
import { tableOptions, type AnyDB } from './helpers.js';

/**
 * Change counters shared by every replica. A write that changes who may do what (users, robots, members, projects)
 * bumps `access`; each process polls the counters about twice a second and drops its permission caches when one
 * moved, so a revoked member's old token stops working on every replica within a second.
 */
export const generations: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('cache_generations')
        .ifNotExists()
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'bigint', (c) => c.notNull().defaultTo(0)),
    ).execute();
    const have = await db.selectFrom('cache_generations').select('name').where('name', '=', 'access').executeTakeFirst();
    if (!have) await db.insertInto('cache_generations').values({ name: 'access', value: 0 }).execute();
  },
};
