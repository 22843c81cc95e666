import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/** The job service: jobs with guarded states, their log lines, and persisted cron schedules. */
export const jobs: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('jobs')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('type', 'varchar(64)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('unique_key', 'varchar(255)', (c) => c.unique())
        .addColumn('release_key', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('run_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_until', 'bigint')
        .addColumn('worker_id', 'varchar(64)')
        .addColumn('stop_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('progress_text', 'varchar(255)')
        .addColumn('error', 'text')
        .addColumn('result', 'text')
        .addColumn('hook_url', 'varchar(1024)')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint'),
    ).execute();
    await createIndex(db, 'jobs_claim_idx', 'jobs', ['type', 'status', 'run_at']);
    await createIndex(db, 'jobs_lease_idx', 'jobs', ['status', 'lease_until']);
    await createIndex(db, 'jobs_list_idx', 'jobs', ['type', 'status', 'id']);

    await tableOptions(
      db,
      db.schema
        .createTable('job_logs')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('job_id', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('level', 'varchar(8)', (c) => c.notNull())
        .addColumn('message', 'varchar(2048)', (c) => c.notNull())
        .addForeignKeyConstraint('job_logs_job_fk', ['job_id'], 'jobs', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'job_logs_job_idx', 'job_logs', ['job_id', 'id']);

    await tableOptions(
      db,
      db.schema
        .createTable('schedules')
        .ifNotExists()
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('cron', 'varchar(128)', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('job_type', 'varchar(64)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('last_fire_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    ).execute();
  },
};
