import { SEVERITIES, type Severity } from '../../scanner/severity.js';
import { OPEN_STATES } from '../../jobs/states.js';
import type { SelectQueryBuilder } from 'kysely';
import type { DB } from '../connect.js';
import type { Package } from '../../scanner/inventory.js';
import type { ImageGap, LayerInventory } from '../../scanner/layer-walker.js';
import type { Finding } from '../../scanner/matcher.js';
import type { ScanReportsTable } from '../tables.js';
import { isUniqueViolation } from '../../errors.js';
import { addToProjectTotals, contributionOf, difference, lockingTransaction, lockReportCounts, projectOfArtifact, severityCounts, type Trx } from './scan-totals.js';

/**
 * Whether a report covers the whole artifact: `complete` (every layer and package database read, and every OS or
 * language ecosystem found has advisories loaded), `incomplete` (see `gaps`), `not_applicable` (not an image:
 * nothing to scan).
 */
export const COMPLETENESS = ['complete', 'incomplete', 'not_applicable'] as const;
export type Completeness = (typeof COMPLETENESS)[number];

/** One thing a scan could not read or judge: a layer (digest), a file in it (path), or an ecosystem (neither). */
export type ReportGap = ImageGap;

/** An artifact's report: what its last scan found, and where the current one stands. */
export interface ScanReport extends Omit<ReportResult, 'finishedAt'> {
  artifactId: number;
  status: 'running' | 'success' | 'error';
  jobId: number | null;
  startedAt: number;
  /** null until the first scan ends */
  finishedAt: number | null;
  error: string | null;
}

export interface ScanSummary {
  status: string;
  counts: Record<Severity, number>;
  fixable: number;
  finishedAt: number | null;
  /** of the last finished report; null when none finished (never scanned, first scan running, failed) */
  completeness: Completeness | null;
}

/** What a finished scan found: written over the artifact's report (status `success`, no error). */
export interface ReportResult {
  scanner: string;
  dbUpdatedAt: number | null;
  finishedAt: number;
  os: string | null;
  counts: Record<Severity, number>;
  fixable: number;
  findings: Finding[];
  packages: Package[];
  problems: string[];
  completeness: Completeness;
  gaps: ReportGap[];
}

const parseList = <T>(s: string): T[] => {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return [];
  }
};

/** A stored completeness; reports from before the column count as incomplete when they listed problems. */
function completenessOf(v: string | null, problems: string): Completeness {
  if ((COMPLETENESS as readonly (string | null)[]).includes(v)) return v as Completeness;
  return parseList<string>(problems).length ? 'incomplete' : 'complete';
}

const countsOf = (r: Pick<ScanReportsTable, Severity>): Record<Severity, number> => ({
  critical: Number(r.critical),
  high: Number(r.high),
  medium: Number(r.medium),
  low: Number(r.low),
  unknown: Number(r.unknown),
});

const resultColumns = (r: ReportResult) => ({
  status: 'success',
  scanner: r.scanner,
  db_updated_at: r.dbUpdatedAt,
  finished_at: r.finishedAt,
  os: r.os,
  ...r.counts,
  fixable: r.fixable,
  findings: JSON.stringify(r.findings),
  packages: JSON.stringify(r.packages),
  problems: JSON.stringify(r.problems),
  error: null,
  completeness: r.completeness,
  gaps: JSON.stringify(r.gaps),
});

/** An artifact's report, or undefined when it was never scanned. */
export async function findScanReport(db: DB, artifactId: number): Promise<ScanReport | undefined> {
  const r = await db.selectFrom('scan_reports').selectAll().where('artifact_id', '=', artifactId).executeTakeFirst();
  if (!r) return undefined;
  return {
    artifactId: Number(r.artifact_id),
    status: r.status as ScanReport['status'],
    jobId: r.job_id === null ? null : Number(r.job_id),
    scanner: r.scanner,
    dbUpdatedAt: r.db_updated_at === null ? null : Number(r.db_updated_at),
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    os: r.os,
    counts: countsOf(r),
    fixable: Number(r.fixable),
    findings: parseList<Finding>(r.findings),
    packages: parseList<Package>(r.packages),
    problems: parseList<string>(r.problems),
    error: r.error,
    completeness: completenessOf(r.completeness, r.problems),
    gaps: r.gaps === null ? parseList<string>(r.problems).map((reason) => ({ reason })) : parseList<ReportGap>(r.gaps),
  };
}

/** Severity summaries of these artifacts' reports (for lists and charts). */
export async function findScanSummaries(db: DB, artifactIds: number[]): Promise<Map<number, ScanSummary>> {
  const out = new Map<number, ScanSummary>();
  if (!artifactIds.length) return out;
  const rows = await db
    .selectFrom('scan_reports')
    .select(['artifact_id', 'status', ...SEVERITIES, 'fixable', 'finished_at', 'completeness', 'problems'])
    .where('artifact_id', 'in', artifactIds)
    .execute();
  for (const r of rows) {
    out.set(Number(r.artifact_id), {
      status: r.status,
      counts: countsOf(r),
      fixable: Number(r.fixable),
      finishedAt: r.finished_at === null ? null : Number(r.finished_at),
      completeness: r.finished_at === null || r.status === 'error' ? null : completenessOf(r.completeness, r.problems),
    });
  }
  return out;
}

/**
 * Changes an artifact's report and moves its project's severity counters by what the change did, in one transaction
 * (see src/db/repos/scan-totals.ts): the report row is read with a lock, `write` changes it (and says whether it
 * wrote: an update of the locked row, or an insert that now holds the new row's lock), and the difference between the
 * row before and after is added to the counters.
 */
async function writeReport(db: DB, artifactId: number, write: (trx: Trx, exists: boolean) => Promise<boolean>): Promise<void> {
  await lockingTransaction(db, async (trx) => {
    const before = await lockReportCounts(trx, artifactId);
    // Nothing written: no difference to add. (Reading the row again here could see another writer's new first report,
    // committed meanwhile, and count it a second time.)
    if (!(await write(trx, before !== undefined))) return;
    const after = await lockReportCounts(trx, artifactId);
    const d = difference(contributionOf(after), contributionOf(before));
    if (Object.values(d).every((v) => v === 0)) return;
    const projectId = await projectOfArtifact(trx, artifactId);
    if (projectId !== undefined) await addToProjectTotals(trx, projectId, d);
  });
}

/**
 * Updates the artifact's report, or creates it from `insert` when there is none (a concurrent creator's row is
 * updated instead). An artifact deleted meanwhile fails the insert on its foreign key, as before.
 */
async function upsertReport(db: DB, artifactId: number, update: Partial<Omit<ScanReportsTable, 'artifact_id'>>, insert: Omit<ScanReportsTable, 'artifact_id'>): Promise<void> {
  try {
    await writeReport(db, artifactId, async (trx, exists) => {
      if (exists) await trx.updateTable('scan_reports').set(update).where('artifact_id', '=', artifactId).execute();
      else
        await trx
          .insertInto('scan_reports')
          .values({ artifact_id: artifactId, ...insert })
          .execute();
      return true;
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // A concurrent first report committed between our read and insert: update it, under its lock.
    await writeReport(db, artifactId, async (trx, exists) => {
      if (exists) await trx.updateTable('scan_reports').set(update).where('artifact_id', '=', artifactId).execute();
      return exists;
    });
  }
}

const EMPTY_REPORT = {
  db_updated_at: null,
  finished_at: null,
  os: null,
  critical: 0,
  high: 0,
  medium: 0,
  low: 0,
  unknown: 0,
  fixable: 0,
  findings: '[]',
  packages: '[]',
  problems: '[]',
  error: null,
  completeness: null,
  gaps: null,
} as const;

/** Marks the artifact's report as running; keeps the previous findings (a new report starts empty). */
export async function markReportRunning(db: DB, artifactId: number, w: { jobId: number | null; startedAt: number; scanner: string }): Promise<void> {
  await upsertReport(
    db,
    artifactId,
    { status: 'running', job_id: w.jobId, started_at: w.startedAt, error: null },
    { ...EMPTY_REPORT, status: 'running', job_id: w.jobId, scanner: w.scanner, started_at: w.startedAt },
  );
}

/** Marks the artifact's report as failed (a report that does not exist stays absent). */
export async function markReportFailed(db: DB, artifactId: number, error: string, at: number): Promise<void> {
  await writeReport(db, artifactId, async (trx, exists) => {
    if (exists)
      await trx
        .updateTable('scan_reports')
        .set({ status: 'error', error: error.slice(0, 2000), finished_at: at })
        .where('artifact_id', '=', artifactId)
        .execute();
    return exists;
  });
}

/** Writes a finished scan's result over the artifact's report (marked running before). */
export async function saveReportResult(db: DB, artifactId: number, r: ReportResult): Promise<void> {
  await writeReport(db, artifactId, async (trx, exists) => {
    if (exists) await trx.updateTable('scan_reports').set(resultColumns(r)).where('artifact_id', '=', artifactId).execute();
    return exists;
  });
}

/** Writes a finished result whether or not the artifact has a report yet (a verdict reached without a running phase). */
export async function upsertReportResult(db: DB, artifactId: number, r: ReportResult & { jobId: number | null; startedAt: number }): Promise<void> {
  const values = { ...resultColumns(r), job_id: r.jobId, started_at: r.startedAt };
  await upsertReport(db, artifactId, values, values);
}

/** A layer's cached inventory, when one was made by this inventory version. */
export async function findLayerInventory(db: DB, digest: string, version: number): Promise<LayerInventory | undefined> {
  const r = await db.selectFrom('layer_inventories').select(['version', 'data']).where('digest', '=', digest).executeTakeFirst();
  return r && Number(r.version) === version ? (JSON.parse(r.data) as LayerInventory) : undefined;
}

/** Caches a layer's inventory (a concurrent scan that cached it first wins). */
export async function saveLayerInventory(db: DB, digest: string, version: number, inv: LayerInventory, at: number): Promise<void> {
  const data = JSON.stringify(inv);
  const res = await db.updateTable('layer_inventories').set({ version, data, created_at: at }).where('digest', '=', digest).executeTakeFirst();
  if (Number(res.numUpdatedRows) > 0) return;
  try {
    await db.insertInto('layer_inventories').values({ digest, version, data, created_at: at }).execute();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
}

/** The part of an artifact's latest scan report the pull gate reads on every pull: no findings parsed. */
export interface ReportSummary {
  status: string;
  /** who judged it: `SCANNER_VERSION` for the built-in scanner, an adapter's `name/version` otherwise */
  scanner: string;
  /** the advisory database's last update as the scan read it when it began (built-in scans only) */
  dbUpdatedAt: number | null;
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
    .select(['status', 'scanner', 'db_updated_at', 'finished_at', ...SEVERITIES, 'completeness', 'gaps', 'problems'])
    .where('artifact_id', '=', artifactId)
    .executeTakeFirst();
  if (!r) return undefined;
  return {
    status: r.status,
    scanner: r.scanner,
    dbUpdatedAt: r.db_updated_at === null ? null : Number(r.db_updated_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    counts: severityCounts(r),
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
    .where('status', 'in', OPEN_STATES)
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

export { severityTotals } from './scan-totals.js';

/**
 * The severity counts of the reports `reports` selects (any query over `scan_reports as s`), summed, and how many
 * reports there are. Over no reports every sum is 0.
 */
// biome-ignore lint/suspicious/noExplicitAny: any query that names scan_reports `s`
export async function sumSeverities(reports: SelectQueryBuilder<any, any, any>): Promise<{ counts: Record<Severity, number>; scanned: number }> {
  const sums = await reports.select((e) => [...SEVERITIES.map((s) => e.fn.sum<number>(`s.${s}`).as(s)), e.fn.countAll<number>().as('scanned')]).executeTakeFirstOrThrow();
  return { counts: severityCounts(sums), scanned: Number(sums.scanned ?? 0) };
}
