import { sql, type ExpressionBuilder, type Insertable, type SqlBool } from 'kysely';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import type { Database, ReportFindingsTable } from '../tables.js';
import { sumSeverities } from './scan-reports.js';
import { countedReport } from './scan-totals.js';
import { isSeverity, SEVERITIES, type Severity, severityOfRank, severityRank } from '../../scanner/severity.js';
import { CVE_ID } from '../../registry/reference.js';
import { visibleProject, type Visibility } from './members.js';

/** What a report's finding contributes to the index (the scan service's Finding, structurally). */
export interface IndexedFinding {
  advisoryId: string;
  aliases: string[];
  package: string;
  type: string;
  installedVersion: string;
  fixedVersion: string | null;
  severity: string;
}

/**
 * Replaces an artifact's indexed findings with a report's: one row per finding and CVE id it names (the advisory id
 * when it names none), in one transaction, so a search never sees half a report.
 */
export async function replaceReportFindings(db: DB, artifactId: number, findings: IndexedFinding[]): Promise<void> {
  const rows: Insertable<ReportFindingsTable>[] = [];
  for (const f of findings) {
    const ids = [...new Set(f.aliases.filter((a) => CVE_ID.test(a)).map((a) => a.toUpperCase()))];
    if (CVE_ID.test(f.advisoryId)) ids.unshift(f.advisoryId.toUpperCase());
    for (const cve of ids.length ? [...new Set(ids)] : [f.advisoryId]) {
      rows.push({
        artifact_id: artifactId,
        advisory_id: f.advisoryId.slice(0, 128),
        cve: cve.slice(0, 128),
        package: f.package.slice(0, 255),
        package_type: f.type.slice(0, 16),
        version: f.installedVersion.slice(0, 255),
        fixed_version: f.fixedVersion?.slice(0, 255) ?? null,
        severity: f.severity.slice(0, 16),
        severity_rank: isSeverity(f.severity) ? severityRank(f.severity) : 0,
      });
    }
  }
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('report_findings').where('artifact_id', '=', artifactId).execute();
    for (let i = 0; i < rows.length; i += 200)
      await trx
        .insertInto('report_findings')
        .values(rows.slice(i, i + 200))
        .execute();
  });
}

/** Which projects a caller sees: null for every project, else public ones plus these ids. */
export type ProjectScope = Visibility;

type Scoped = ExpressionBuilder<Database & { p: Database['projects']; r: Database['repositories'] }, 'p' | 'r'>;
const inScope = (scope: ProjectScope, projectId: number | undefined) => (eb: Scoped) => {
  const parts = [];
  if (projectId !== undefined) parts.push(eb('r.project_id', '=', projectId));
  if (!scope.all) parts.push(visibleProject(scope, 'r.project_id', 'p.public'));
  return parts.length ? eb.and(parts) : sql<SqlBool>`1 = 1`;
};

export interface FindingHit {
  /** the finding row (the list's tiebreaker) */
  id: number;
  artifactId: number;
  project: string;
  repository: string;
  digest: string;
  advisoryId: string;
  cve: string;
  package: string;
  packageType: string;
  version: string;
  fixedVersion: string | null;
  severity: string;
}

export interface FindingQuery {
  cve?: string;
  package?: string;
  /** at or above this rank (critical 4 … unknown 0) */
  minRank?: number;
  projectId?: number;
  scope: ProjectScope;
  page: PageRequest;
}

/**
 * Indexed findings, newest artifacts first. A CVE uses `report_findings_cve_idx`, a package
 * `report_findings_package_idx`; both also narrow by artifact through the index's second column.
 */
export async function searchFindings(db: DB, q: FindingQuery): Promise<KeysetPage<FindingHit>> {
  let base = db
    .selectFrom('report_findings as f')
    .innerJoin('artifacts as a', 'a.id', 'f.artifact_id')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .innerJoin('projects as p', 'p.id', 'r.project_id')
    .where(inScope(q.scope, q.projectId) as never);
  // A CVE id is indexed under `cve` (every finding naming it); another id is an advisory's own id, or stands in as
  // `cve` for an advisory that names no CVE. Each branch is an index lookup.
  if (q.cve && CVE_ID.test(q.cve)) base = base.where('f.cve', '=', q.cve.toUpperCase());
  else if (q.cve) base = base.where((eb) => eb.or([eb('f.advisory_id', '=', q.cve!), eb('f.cve', '=', q.cve!)]));
  if (q.package) base = base.where('f.package', '=', q.package);
  if (q.minRank !== undefined && q.minRank > 0) base = base.where('f.severity_rank', '>=', q.minRank);
  const page = await keysetPage(
    db,
    base,
    SORTS.findings,
    q.page,
    (qb) =>
      qb.select([
        'f.id',
        'f.artifact_id',
        'p.name as project',
        'r.name as repository',
        'a.digest',
        'f.advisory_id',
        'f.cve',
        'f.package',
        'f.package_type',
        'f.version',
        'f.fixed_version',
        'f.severity',
      ]),
    (r) => [Number(r.artifact_id), Number(r.id)],
  );
  return {
    ...page,
    items: page.items.map((r) => ({
      id: Number(r.id),
      artifactId: Number(r.artifact_id),
      project: r.project,
      repository: r.repository,
      digest: r.digest,
      advisoryId: r.advisory_id,
      cve: r.cve,
      package: r.package,
      packageType: r.package_type,
      version: r.version,
      fixedVersion: r.fixed_version,
      severity: r.severity,
    })),
  };
}

export interface SecuritySummary {
  totals: Record<Severity, number>;
  scannedArtifacts: number;
  topCves: { cve: string; severity: string; artifacts: number }[];
  mostVulnerable: { artifactId: number; project: string; repository: string; digest: string; critical: number; high: number; medium: number; low: number; unknown: number }[];
}

/**
 * Severity totals over the latest reports, the CVEs in most artifacts, and the artifacts with the worst reports: of the
 * reports that count by the project counters' rule ({@link countedReport}), so the hub and the project pages agree.
 */
export async function securitySummary(db: DB, scope: ProjectScope, projectId: number | undefined, top = 10): Promise<SecuritySummary> {
  const reports = db
    .selectFrom('scan_reports as s')
    .innerJoin('artifacts as a', 'a.id', 's.artifact_id')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .innerJoin('projects as p', 'p.id', 'r.project_id')
    .where(inScope(scope, projectId) as never)
    // The project counters' rule: a report being refreshed still counts with its last findings; a failed one, or one
    // of an artifact that is not scannable, counts as none.
    .where(countedReport);
  const sums = await sumSeverities(reports);
  const worst = await reports
    .select(['s.artifact_id', 'p.name as project', 'r.name as repository', 'a.digest', ...SEVERITIES.map((s) => `s.${s}` as const)])
    .where((eb) => eb.or([eb('s.critical', '>', 0), eb('s.high', '>', 0), eb('s.medium', '>', 0), eb('s.low', '>', 0), eb('s.unknown', '>', 0)]))
    .orderBy('s.critical', 'desc')
    .orderBy('s.high', 'desc')
    .orderBy('s.medium', 'desc')
    .orderBy('s.low', 'desc')
    .orderBy('s.artifact_id', 'desc')
    .limit(top)
    .execute();
  const cves = await db
    .selectFrom('report_findings as f')
    .innerJoin('artifacts as a', 'a.id', 'f.artifact_id')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .innerJoin('projects as p', 'p.id', 'r.project_id')
    .innerJoin('scan_reports as s', 's.artifact_id', 'f.artifact_id')
    .where(inScope(scope, projectId) as never)
    .where(countedReport)
    .select((e) => ['f.cve', e.fn.max<number>('f.severity_rank').as('rank'), e.fn.count<number>('f.artifact_id').distinct().as('artifacts')])
    .groupBy('f.cve')
    .orderBy((e) => e.fn.max('f.severity_rank'), 'desc')
    .orderBy((e) => e.fn.count('f.artifact_id').distinct(), 'desc')
    .orderBy('f.cve')
    .limit(top)
    .execute();
  const num = (v: unknown) => Number(v ?? 0);
  return {
    totals: sums.counts,
    scannedArtifacts: sums.scanned,
    topCves: cves.map((c) => ({ cve: c.cve, severity: severityOfRank(num(c.rank)), artifacts: num(c.artifacts) })),
    mostVulnerable: worst.map((w) => ({
      artifactId: Number(w.artifact_id),
      project: w.project,
      repository: w.repository,
      digest: w.digest,
      critical: num(w.critical),
      high: num(w.high),
      medium: num(w.medium),
      low: num(w.low),
      unknown: num(w.unknown),
    })),
  };
}
