import type { Migration } from 'kysely';
import { tableOptions, type AnyDB } from './helpers.js';

/** Registry writes in flight per core replica, with a heartbeat, so garbage collection drains every replica's uploads. */
export const registryWrites: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('registry_writes')
        .ifNotExists()
        .addColumn('replica_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('inflight', 'integer', (c) => c.notNull())
        .addColumn('last_ended_at', 'bigint', (c) => c.notNull())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull()),
    ).execute();
  },
};
