import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/** Project webhook policies (Harbor's event set) and the log of every delivery attempt. */
export const webhooks: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('webhook_policies')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('url', 'varchar(2048)', (c) => c.notNull())
        .addColumn('format', 'varchar(16)', (c) => c.notNull())
        .addColumn('event_types', 'varchar(1024)', (c) => c.notNull())
        .addColumn('auth_header', 'varchar(1024)')
        .addColumn('secret', 'varchar(255)')
        .addColumn('skip_tls_verify', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('last_triggered_at', 'bigint')
        .addColumn('created_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('webhook_policies_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'webhook_policies_project_idx', 'webhook_policies', ['project_id', 'id']);

    await tableOptions(
      db,
      db.schema
        .createTable('webhook_deliveries')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('policy_id', 'integer', (c) => c.notNull())
        .addColumn('job_id', 'integer')
        .addColumn('event_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('event_type', 'varchar(32)', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('latency_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'varchar(1024)')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('webhook_deliveries_policy_fk', ['policy_id'], 'webhook_policies', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'webhook_deliveries_policy_idx', 'webhook_deliveries', ['policy_id', 'id']);
  },
};
