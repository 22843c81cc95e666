import { MysqlAdapter, sql, type SqlBool, type Transaction } from 'kysely';
import { SEVERITIES, type Severity } from '../../scanner/severity.js';
import type { DB } from '../connect.js';
import type { Database, ScanReportsTable } from '../tables.js';
import { retryDeadlock } from './jobs.js';
import { visibleProject, type Visibility } from './members.js';

/**
 * Per-project severity counters (table `project_scan_totals`, migration 100): what the project page's chart and the
 * dashboard's overview show, read in one primary-key lookup (a project) or one pass over the counter rows (what a
 * caller sees) however many artifacts there are.
 *
 * Every write that changes what the counters sum runs in one transaction with its counter update: it reads the rows it
 * changes with a locking read (`FOR UPDATE` on MySQL; SQLite has one writer), writes them, and adds the difference.
 * Two scans of one artifact, or a scan and the artifact's deletion, therefore serialise on the report (or artifact)
 * row, and each adds exactly the change it made; an artifact deleted under a running scan takes its report's
 * contribution with it and the scan's late write finds no row to change. Deleting a project removes its counters
 * (foreign key); deleting a repository subtracts what its artifacts contributed.
 */

export type Trx = Transaction<Database>;

/** What one artifact's report adds to its project's totals: nothing unless a finished, applicable, successful report. */
export interface Contribution extends Record<Severity, number> {
  scanned: number;
}

export const ZERO: Contribution = { scanned: 0, critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };

type ReportCountColumns = Pick<ScanReportsTable, 'status' | 'finished_at' | 'completeness' | Severity>;

/**
 * The rule the charts count by (kept from the whole-table query it replaces): a report being refreshed still counts
 * with its last findings; a failed one or one saying "not scannable" counts as none.
 */
export function contributionOf(r: ReportCountColumns | undefined): Contribution {
  if (!r || r.status === 'error' || r.finished_at === null || r.completeness === 'not_applicable') return ZERO;
  return { scanned: 1, ...severityCounts(r) };
}

/**
 * {@link contributionOf}'s rule as a SQL condition on a `scan_reports` row aliased `s`: a finished report that did not
 * fail and does not say "not scannable" (signatures, SBOMs, charts and other artifacts Berth does not scan count as
 * neither scanned nor vulnerable). Every summary of reports (the security hub's) filters by it, so it agrees with the
 * counters.
 */
export const countedReport = sql<SqlBool>`s.status <> 'error' and s.finished_at is not null and (s.completeness is null or s.completeness <> 'not_applicable')`;

export const isMysqlDb = (db: DB | Trx) => db.getExecutor().adapter instanceof MysqlAdapter;

/**
 * Runs `fn` in a transaction that may take row locks, retrying an InnoDB deadlock victim (the other transaction made
 * progress). READ COMMITTED on MySQL: no gap locks, so concurrent first reports of different artifacts do not block
 * each other.
 */
export function lockingTransaction<T>(db: DB, fn: (trx: Trx) => Promise<T>): Promise<T> {
  if (!isMysqlDb(db)) return db.transaction().execute(fn);
  return retryDeadlock(() => db.transaction().setIsolationLevel('read committed').execute(fn));
}

/** The report columns the counters read: its state and its severity counts. */
const COUNTER_COLUMNS = ['artifacts', 'scanned', ...SEVERITIES] as const;

/** Each severity's count of a row of sums (a SUM over no rows is NULL, and a driver may hand a sum back as a decimal string). */
export const severityCounts = (r: Partial<Record<Severity, unknown>>): Record<Severity, number> => Object.fromEntries(SEVERITIES.map((s) => [s, Number(r[s] ?? 0)])) as Record<Severity, number>;

export const REPORT_COUNT_COLUMNS = ['status', 'finished_at', 'completeness', ...SEVERITIES] as const;

/** An artifact's report columns the counters read, locked for the rest of the transaction (undefined: no report). */
export async function lockReportCounts(trx: Trx, artifactId: number): Promise<ReportCountColumns | undefined> {
  const q = trx.selectFrom('scan_reports').select(REPORT_COUNT_COLUMNS).where('artifact_id', '=', artifactId);
  return (isMysqlDb(trx) ? q.forUpdate() : q).executeTakeFirst();
}

/** The project an artifact belongs to (undefined: no such artifact). */
export async function projectOfArtifact(trx: Trx, artifactId: number): Promise<number | undefined> {
  const r = await trx.selectFrom('artifacts as a').innerJoin('repositories as r', 'r.id', 'a.repository_id').select('r.project_id').where('a.id', '=', artifactId).executeTakeFirst();
  return r ? Number(r.project_id) : undefined;
}

/** `after - before`, per counter. */
export const difference = (after: Contribution, before: Contribution): Contribution => ({
  scanned: after.scanned - before.scanned,
  critical: after.critical - before.critical,
  high: after.high - before.high,
  medium: after.medium - before.medium,
  low: after.low - before.low,
  unknown: after.unknown - before.unknown,
});

export const negate = (c: Contribution): Contribution => difference(ZERO, c);

/**
 * Adds to a project's counters (artifacts and report contributions, either may be negative); makes its row on first
 * use. Call inside the transaction that made the change.
 */
export async function addToProjectTotals(trx: Trx, projectId: number, d: Partial<Contribution> & { artifacts?: number }): Promise<void> {
  const cols = COUNTER_COLUMNS;
  const delta = Object.fromEntries(cols.map((k) => [k, Number(d[k] ?? 0)])) as Record<(typeof cols)[number], number>;
  if (cols.every((k) => delta[k] === 0)) return;
  const update = () =>
    trx
      .updateTable('project_scan_totals')
      .set((eb) => Object.fromEntries(cols.map((k) => [k, eb(k, '+', delta[k])])) as never)
      .where('project_id', '=', projectId)
      .executeTakeFirst();
  if (Number((await update()).numUpdatedRows) > 0) return;
  // First change of this project: the row starts at the delta. A concurrent first writer's row, once committed,
  // makes this insert a duplicate; then add to that row instead.
  const inserted = isMysqlDb(trx)
    ? await trx
        .insertInto('project_scan_totals')
        .ignore()
        .values({ project_id: projectId, ...delta })
        .executeTakeFirst()
    : await trx
        .insertInto('project_scan_totals')
        .values({ project_id: projectId, ...delta })
        .onConflict((oc) => oc.column('project_id').doNothing())
        .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return;
  await update();
}

export interface SeverityTotals {
  counts: Record<Severity, number>;
  /** artifacts with a report that counts (see `contributionOf`) */
  scanned: number;
  artifacts: number;
}

/**
 * Severity totals over the latest reports of the artifacts in scope, and how many artifacts there are and have a
 * report that counts: one project, or the projects a caller sees (see {@link Visibility}). Read
 * from the counters: one row for a project, one pass over the projects that ever held an artifact otherwise.
 */
export async function severityTotals(db: DB, scope: { projectId: number } | { visible: Visibility }): Promise<SeverityTotals> {
  let q = db
    .selectFrom('project_scan_totals as t')
    .select((e) => [e.fn.sum<number>('t.artifacts').as('artifacts'), e.fn.sum<number>('t.scanned').as('scanned'), ...SEVERITIES.map((s) => e.fn.sum<number>(`t.${s}`).as(s))]);
  if ('projectId' in scope) q = q.where('t.project_id', '=', scope.projectId);
  else if (!scope.visible.all) q = q.innerJoin('projects as p', 'p.id', 't.project_id').where(visibleProject(scope.visible, 'p.id', 'p.public'));
  const r = await q.executeTakeFirstOrThrow();
  const n = (v: unknown) => Number(v ?? 0);
  return { counts: severityCounts(r), scanned: n(r.scanned), artifacts: n(r.artifacts) };
}

/**
 * The same totals summed from the reports and artifacts themselves, for one project: reads every artifact of it. The
 * oracle the counters are tested against; not for pages.
 */
export async function recountSeverityTotals(db: DB, projectId: number): Promise<SeverityTotals> {
  const where = sql<SqlBool>`r.project_id = ${projectId}`;
  const rows = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .leftJoin('scan_reports as s', 's.artifact_id', 'a.id')
    .where(where)
    .select(['s.status', 's.finished_at', 's.completeness', ...SEVERITIES.map((s) => `s.${s}` as const), 's.artifact_id'])
    .execute();
  const out: SeverityTotals = { counts: severityCounts({}), scanned: 0, artifacts: rows.length };
  for (const row of rows) {
    const c = contributionOf(row.artifact_id === null ? undefined : (row as ReportCountColumns));
    out.scanned += c.scanned;
    for (const k of SEVERITIES) out.counts[k] += c[k];
  }
  return out;
}

/** A project's counter row: its artifacts and what their reports contribute. */
export type ProjectCounters = Contribution & { artifacts: number };

/** Rows one recount query reads at most (artifacts of one repository, or repositories of one project). */
export const RECOUNT_BATCH = 1000;

export interface TotalsRecount {
  projectId: number;
  /** the counters as they were (zero when the project had no counter row) */
  before: ProjectCounters;
  /** the counters as the rows sum them, now stored */
  after: ProjectCounters;
  /** whether `before` differed from `after` (a drift, now repaired) */
  drifted: boolean;
}

/**
 * Recounts one project's counters from its artifacts and reports (by {@link contributionOf}, the writers' rule) and
 * stores the result: the repair for drift nothing else would ever undo (a crash between statements on a database
 * without transactions, a manual edit, a bug). Reads in keyset batches of `batch` rows (repositories by name,
 * each repository's artifacts by digest), so no query or result grows with the project.
 *
 * Race-free against the writers by their own discipline: the counter row is locked first (`FOR UPDATE` on MySQL, the
 * single writer's lock up front on SQLite) and held to the end, and every writer changes the counters in the
 * transaction that changes the rows, as its last step. So a change committed before the lock is both in the rows this
 * reads (READ COMMITTED: each query sees every commit before it) and in the counters it replaces; a change not yet
 * committed is in neither (its counter update waits for this transaction, then adds its difference to the recount).
 * The rows are read without locks, so a writer holding an artifact or report lock cannot deadlock with this.
 * The project's counter writers (pushes, scans, deletions) wait while it reads; other projects' do not.
 * Null when the project does not exist.
 */
export async function recountProjectTotals(db: DB, projectId: number, batch = RECOUNT_BATCH): Promise<TotalsRecount | null> {
  return lockingTransaction(db, async (trx) => {
    const mysql = isMysqlDb(trx);
    // SQLite: write first, so the write lock is held from the start (see withProjectLock in projects.ts).
    if (!mysql)
      await trx
        .updateTable('project_scan_totals')
        .set((eb) => ({ artifacts: eb.ref('artifacts') }))
        .where('project_id', '=', projectId)
        .execute();
    const lockRow = () => {
      const q = trx.selectFrom('project_scan_totals').select(COUNTER_COLUMNS).where('project_id', '=', projectId);
      return (mysql ? q.forUpdate() : q).executeTakeFirst();
    };
    let row = await lockRow();
    if (!row) {
      // No counter row (a project without artifacts so far, or one removed by hand): make it, and hold its lock.
      if (mysql) {
        // IGNORE: a concurrent first writer's row stands (and is locked next); a project deleted meanwhile makes no row.
        await trx.insertInto('project_scan_totals').ignore().values({ project_id: projectId, artifacts: 0, scanned: 0, critical: 0, high: 0, medium: 0, low: 0, unknown: 0 }).execute();
      } else {
        if (!(await trx.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst())) return null;
        await trx
          .insertInto('project_scan_totals')
          .values({ project_id: projectId, artifacts: 0, scanned: 0, critical: 0, high: 0, medium: 0, low: 0, unknown: 0 })
          .onConflict((oc) => oc.column('project_id').doNothing())
          .execute();
      }
      row = await lockRow();
      if (!row) return null;
    }
    const before: ProjectCounters = {
      artifacts: Number(row.artifacts),
      scanned: Number(row.scanned),
      critical: Number(row.critical),
      high: Number(row.high),
      medium: Number(row.medium),
      low: Number(row.low),
      unknown: Number(row.unknown),
    };
    const after: ProjectCounters = { ...ZERO, artifacts: 0 };
    let lastRepository: string | null = null;
    for (;;) {
      let rq = trx.selectFrom('repositories').select(['id', 'name']).where('project_id', '=', projectId);
      if (lastRepository !== null) rq = rq.where('name', '>', lastRepository);
      const repositories = await rq.orderBy('name').limit(batch).execute();
      for (const repository of repositories) {
        let lastDigest: string | null = null;
        for (;;) {
          let aq = trx
            .selectFrom('artifacts as a')
            .leftJoin('scan_reports as s', 's.artifact_id', 'a.id')
            .select(['a.digest', 's.artifact_id', 's.status', 's.finished_at', 's.completeness', ...SEVERITIES.map((s) => `s.${s}` as const)])
            .where('a.repository_id', '=', repository.id);
          if (lastDigest !== null) aq = aq.where('a.digest', '>', lastDigest);
          const rows = await aq.orderBy('a.digest').limit(batch).execute();
          for (const r of rows) {
            const c = contributionOf(r.artifact_id === null ? undefined : (r as ReportCountColumns));
            after.artifacts++;
            for (const k of Object.keys(ZERO) as (keyof Contribution)[]) after[k] += c[k];
          }
          if (rows.length < batch) break;
          lastDigest = rows[rows.length - 1]!.digest;
        }
      }
      if (repositories.length < batch) break;
      lastRepository = repositories[repositories.length - 1]!.name;
    }
    const drifted = COUNTER_COLUMNS.some((k) => before[k] !== after[k]);
    if (drifted) await trx.updateTable('project_scan_totals').set(after).where('project_id', '=', projectId).execute();
    return { projectId, before, after, drifted };
  });
}
