import { sql, type Migration } from 'kysely';
import { tableOptions, type AnyDB } from './helpers.js';

/**
 * Per-project counters behind the project page's severity chart and the dashboard's overview: how many artifacts the
 * project holds, how many have a finished report that counts, and the sum of those reports' severity counts. Summing
 * scan_reports over a project's artifacts read every report row of it (1M artifacts: 5.8× the near-empty page); the
 * counters are moved by the same transactions that write reports and add or delete artifacts (src/db/repos/scan-totals.ts).
 * Filled here from the rows as they are; a project's row is removed with the project.
 */
export const projectScanTotals: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('project_scan_totals')
        .ifNotExists()
        .addColumn('project_id', 'integer', (c) => c.primaryKey())
        .addColumn('artifacts', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('scanned', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('critical', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('high', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('medium', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('low', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('unknown', 'bigint', (c) => c.notNull().defaultTo(0))
        .addForeignKeyConstraint('project_scan_totals_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    // Re-runnable: rebuilt from the rows each time the step runs.
    await db.deleteFrom('project_scan_totals').execute();
    await sql`
      insert into project_scan_totals (project_id, artifacts, scanned, critical, high, medium, low, unknown)
      select r.project_id, count(a.id),
        sum(case when s.artifact_id is not null then 1 else 0 end),
        coalesce(sum(s.critical), 0), coalesce(sum(s.high), 0), coalesce(sum(s.medium), 0), coalesce(sum(s.low), 0), coalesce(sum(s.unknown), 0)
      from artifacts a
      join repositories r on r.id = a.repository_id
      left join scan_reports s on s.artifact_id = a.id and s.status <> 'error' and s.finished_at is not null
        and (s.completeness is null or s.completeness <> 'not_applicable')
      group by r.project_id`.execute(db);
  },
};
