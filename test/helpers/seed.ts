/**
 * Rows written straight into a test database, as a push or a scan would have written them, for suites that need
 * artifacts and reports without a registry or a scanner.
 */
import type { ArtifactFacts } from '../../src/db/repos/artifacts.js';
import type { DB } from '../../src/db/connect.js';
import type { ScanReportsTable } from '../../src/db/tables.js';

/** The id of the project named `name`; throws when there is none. */
export async function projectId(db: DB, name: string): Promise<number> {
  const row = await db.selectFrom('projects').select('id').where('name', '=', name).executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * What a push tells Berth about a small OCI image manifest with no config, blobs or platform, pushed now
 * (`pushedAt` ms); `over` replaces any of it.
 */
export function manifestFacts(over: Partial<ArtifactFacts> = {}): ArtifactFacts {
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    manifestSize: 10,
    size: 10,
    configDigest: null,
    os: null,
    architecture: null,
    variant: null,
    created: null,
    pushedAt: Date.now(),
    pushedBy: null,
    blobs: [],
    children: [],
    ...over,
  };
}

/** The fields of a stored finding that a report row's counts are made of. */
interface CountedFinding {
  severity: string;
  fixedVersion: string | null;
}

/**
 * Inserts a finished, successful `scan_reports` row for `artifactId` holding `findings` as JSON, its severity counts
 * and `fixable` counted from them, and nothing else: no `report_findings` rows, no completeness (as a report written
 * before those existed). `over` replaces any column (timestamps are ms).
 */
export async function insertScanReportRow(db: DB, artifactId: number, findings: CountedFinding[], over: Partial<Omit<ScanReportsTable, 'artifact_id'>> = {}): Promise<void> {
  const count = (severity: string) => findings.filter((f) => f.severity === severity).length;
  await db
    .insertInto('scan_reports')
    .values({
      artifact_id: artifactId,
      status: 'success',
      job_id: null,
      scanner: 'x',
      db_updated_at: null,
      started_at: 1,
      finished_at: 2,
      os: null,
      critical: count('critical'),
      high: count('high'),
      medium: count('medium'),
      low: count('low'),
      unknown: count('unknown'),
      fixable: findings.filter((f) => f.fixedVersion !== null).length,
      findings: JSON.stringify(findings),
      packages: '[]',
      problems: '[]',
      error: null,
      ...over,
    })
    .execute();
}
