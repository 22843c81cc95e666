import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/**
 * Lists that grew with user data without a page:
 * - `retention_runs`: which retention job belongs to which project, so a project's runs page by keyset (the jobs table
 *   keeps the project only inside its JSON payload, and filtering the newest 100 jobs in memory lost runs);
 * - `retention_run_items`: one row per artifact a run deleted, would delete or failed to delete (the job's result keeps
 *   a bounded preview; the full list pages from here);
 * - `tags (artifact_id, name, id)`: an artifact's tags page in name order.
 * Runs recorded before this step are backfilled from their jobs (at most the job history a type keeps).
 */
export const boundedLists: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('retention_runs')
        .ifNotExists()
        .addColumn('job_id', 'integer', (c) => c.primaryKey())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('dry_run', 'integer', (c) => c.notNull())
        .addColumn('trigger_kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('retention_runs_job_fk', ['job_id'], 'jobs', ['id'], (f) => f.onDelete('cascade'))
        .addForeignKeyConstraint('retention_runs_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'retention_runs_project_idx', 'retention_runs', ['project_id', 'job_id']);

    await tableOptions(
      db,
      db.schema
        .createTable('retention_run_items')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('job_id', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('digest', 'varchar(100)', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('tag_count', 'integer', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('reason', 'varchar(512)', (c) => c.notNull())
        .addColumn('error', 'varchar(512)')
        .addForeignKeyConstraint('retention_run_items_job_fk', ['job_id'], 'jobs', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'retention_run_items_job_idx', 'retention_run_items', ['job_id', 'id']);
    await createIndex(db, 'tags_artifact_list_idx', 'tags', ['artifact_id', 'name', 'id']);

    // Backfill: the runs (and their listed decisions) of the jobs kept so far.
    const projects = new Set((await db.selectFrom('projects').select('id').execute()).map((p) => Number(p.id)));
    const jobs = await db.selectFrom('jobs').select(['id', 'payload', 'result', 'created_at']).where('type', '=', 'retention').orderBy('id').limit(5000).execute();
    for (const j of jobs) {
      let payload: { projectId?: unknown; dryRun?: unknown; trigger?: unknown } = {};
      try {
        payload = JSON.parse(String(j.payload)) as typeof payload;
      } catch {
        continue;
      }
      const projectId = Number(payload.projectId);
      if (!projects.has(projectId)) continue;
      const seen = await db.selectFrom('retention_runs').select('job_id').where('job_id', '=', j.id).executeTakeFirst();
      if (seen) continue;
      await db
        .insertInto('retention_runs')
        .values({
          job_id: j.id,
          project_id: projectId,
          dry_run: payload.dryRun === true ? 1 : 0,
          trigger_kind: payload.trigger === 'schedule' ? 'schedule' : 'manual',
          created_at: Number(j.created_at),
        })
        .execute();
      let result: { deleted?: unknown; failed?: unknown } = {};
      try {
        result = (j.result ? JSON.parse(String(j.result)) : {}) as typeof result;
      } catch {
        /* no listed decisions */
      }
      const rows: Record<string, unknown>[] = [];
      for (const d of Array.isArray(result.deleted) ? (result.deleted as Record<string, unknown>[]) : []) {
        const tags = Array.isArray(d.tags) ? d.tags.filter((t): t is string => typeof t === 'string') : [];
        rows.push({
          job_id: j.id,
          outcome: payload.dryRun === true ? 'would_delete' : 'deleted',
          repository: String(d.repository ?? '').slice(0, 255),
          digest: String(d.digest ?? '').slice(0, 100),
          tags: JSON.stringify(tags.slice(0, 10)),
          tag_count: tags.length,
          size: Number(d.size) || 0,
          reason: String(d.reason ?? '').slice(0, 512),
          error: null,
        });
      }
      for (const f of Array.isArray(result.failed) ? (result.failed as Record<string, unknown>[]) : []) {
        rows.push({
          job_id: j.id,
          outcome: 'failed',
          repository: String(f.repository ?? '').slice(0, 255),
          digest: String(f.digest ?? '').slice(0, 100),
          tags: '[]',
          tag_count: 0,
          size: 0,
          reason: '',
          error: String(f.error ?? '').slice(0, 512),
        });
      }
      for (let i = 0; i < rows.length; i += 200)
        await db
          .insertInto('retention_run_items')
          .values(rows.slice(i, i + 200))
          .execute();
    }
  },
};
