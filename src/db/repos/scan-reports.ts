import type { Severity } from '../../scanner/severity.js';
import type { DB } from '../connect.js';

/** The part of an artifact's latest scan report the pull gate reads on every pull: no findings parsed. */
export interface ReportSummary {
  status: string;
  finishedAt: number | null;
  counts: Record<Severity, number>;
}

export async function findReportSummary(db: DB, artifactId: number): Promise<ReportSummary | undefined> {
  const r = await db
    .selectFrom('scan_reports')
    .select(['status', 'finished_at', 'critical', 'high', 'medium', 'low', 'unknown'])
    .where('artifact_id', '=', artifactId)
    .executeTakeFirst();
  if (!r) return undefined;
  return {
    status: r.status,
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    counts: { critical: Number(r.critical), high: Number(r.high), medium: Number(r.medium), low: Number(r.low), unknown: Number(r.unknown) },
  };
}
