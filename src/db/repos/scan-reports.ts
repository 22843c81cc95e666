import type { Severity } from '../../scanner/severity.js';
import { sql, type SqlBool } from 'kysely';
import type { DB } from '../connect.js';

/** The part of an artifact's latest scan report the pull gate reads on every pull: no findings parsed. */
export interface ReportSummary {
  status: string;
  finishedAt: number | null;
  counts: Record<Severity, number>;
  /** whether the report left gaps (a layer or package database not read, an ecosystem without advisories) */
  incomplete: boolean;
  /** how many gaps it lists */
  gaps: number;
  /** the artifact is not something the scanner reads (a chart, a signature, a SIF file…): no verdict */
  notApplicable: boolean;
}

export async function findReportSummary(db: DB, artifactId: number): Promise<ReportSummary | undefined> {
  const r = await db
    .selectFrom('scan_reports')
    .select(['status', 'finished_at', 'critical', 'high', 'medium', 'low', 'unknown', 'completeness', 'gaps', 'problems'])
    .where('artifact_id', '=', artifactId)
    .executeTakeFirst();
  if (!r) return undefined;
  return {
    status: r.status,
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    counts: { critical: Number(r.critical), high: Number(r.high), medium: Number(r.medium), low: Number(r.low), unknown: Number(r.unknown) },
    // reports older than the completeness column count as incomplete when they listed problems
    incomplete: r.completeness === 'incomplete' || (r.completeness === null && jsonLength(r.problems) > 0),
    notApplicable: r.completeness === 'not_applicable',
    gaps: r.completeness === null ? jsonLength(r.problems) : jsonLength(r.gaps),
  };
}

function jsonLength(s: string | null): number {
  if (!s) return 0;
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.length : 0;
  } catch {
    return 0;
  }
}

/**
 * Scan jobs of one project not finished yet (pending, scheduled or running), counted from their payloads
 * (`{"repository":"<project>/…"}`), at most `cap`. For the fair share of scan slots between projects.
 */
export async function countOpenScansOfProject(db: DB, jobType: string, project: string, cap: number): Promise<number> {
  const rows = await db
    .selectFrom('jobs')
    .select('payload')
    .where('type', '=', jobType)
    .where('status', 'in', ['pending', 'scheduled', 'running'])
    // `_` in a project name widens LIKE; the exact check below decides
    .where('payload', 'like', `%"repository":"${project}/%`)
    .limit(cap * 4)
    .execute();
  let n = 0;
  for (const r of rows) {
    try {
      const p = JSON.parse(r.payload) as { repository?: unknown };
      if (typeof p.repository === 'string' && p.repository.startsWith(`${project}/`)) n++;
    } catch {
      /* not ours */
    }
    if (n >= cap) break;
  }
  return n;
}

/**
 * Severity totals over the latest reports of the artifacts in scope, and how many artifacts there are and have a
 * finished report: one project, or the projects a caller sees (public ones plus `visibleIds`; null: all). A report
 * being refreshed still counts with its last findings; a failed one or one saying "not scannable" counts as none.
 */
export async function severityTotals(db: DB, scope: { projectId: number } | { visibleIds: number[] | null }): Promise<{ counts: Record<Severity, number>; scanned: number; artifacts: number }> {
  let where: ReturnType<typeof sql<SqlBool>>;
  if ('projectId' in scope) where = sql<SqlBool>`p.id = ${scope.projectId}`;
  else if (scope.visibleIds === null) where = sql<SqlBool>`1 = 1`;
  else where = scope.visibleIds.length ? sql<SqlBool>`(p.public = 1 or p.id in (${sql.join(scope.visibleIds)}))` : sql<SqlBool>`p.public = 1`;
  const sums = await db
    .selectFrom('scan_reports as s')
    .innerJoin('artifacts as a', 'a.id', 's.artifact_id')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .innerJoin('projects as p', 'p.id', 'r.project_id')
    .where(where)
    .where('s.status', '!=', 'error')
    .where((eb) => eb.or([eb('s.completeness', 'is', null), eb('s.completeness', '!=', 'not_applicable')]))
    .where('s.finished_at', 'is not', null)
    .select((e) => [
      e.fn.sum<number>('s.critical').as('critical'),
      e.fn.sum<number>('s.high').as('high'),
      e.fn.sum<number>('s.medium').as('medium'),
      e.fn.sum<number>('s.low').as('low'),
      e.fn.sum<number>('s.unknown').as('unknown'),
      e.fn.countAll<number>().as('scanned'),
    ])
    .executeTakeFirstOrThrow();
  const { n } = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .innerJoin('projects as p', 'p.id', 'r.project_id')
    .where(where)
    .select((e) => e.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const num = (v: unknown) => Number(v ?? 0);
  return { counts: { critical: num(sums.critical), high: num(sums.high), medium: num(sums.medium), low: num(sums.low), unknown: num(sums.unknown) }, scanned: num(sums.scanned), artifacts: Number(n) };
}
