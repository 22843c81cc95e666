import { isSystemAdmin, type Principal } from '../auth/principal.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import type { DB } from '../db/connect.js';
export type { FindingHit } from '../db/repos/findings.js';
import { searchFindings, securitySummary, type FindingHit, type ProjectScope, type SecuritySummary } from '../db/repos/findings.js';
import { badRequest, unauthorized } from '../errors.js';
import { compareVersions, type VersionScheme } from '../scanner/versions/index.js';
import { ADVISORY_ID } from '../registry/reference.js';
import { isSeverity, SEVERITIES, severityRank, type Severity } from '../scanner/severity.js';
import type { ProjectService } from './project-service.js';

const SCHEME: Record<string, VersionScheme> = { deb: 'dpkg', apk: 'apk', npm: 'semver', pypi: 'pep440', maven: 'maven', cargo: 'semver', gem: 'rubygems' };
/** Rows of one package read to filter by a version range (the range needs each ecosystem's ordering, so in memory). */
const RANGE_SCAN_CAP = 20_000;

export interface VersionBound {
  op: '<' | '<=' | '>' | '>=' | '=';
  version: string;
}

/**
 * Parses a version range: comparisons joined by commas, all of which must hold (`>=1.2,<1.3`, `<3.0.7`, `=1.0-1`, or a
 * bare version meaning `=`). Throws a 400 on anything else.
 */
export function parseVersionRange(raw: string): VersionBound[] {
  if (raw.length > 300) throw badRequest('version range is too long');
  const out: VersionBound[] = [];
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(<=|>=|<|>|==?)?\s*([A-Za-z0-9][A-Za-z0-9.+~:_-]{0,127})$/.exec(part);
    if (!m) throw badRequest(`version range: "${part.slice(0, 40)}" is not a comparison like >=1.2 or <2.0`);
    out.push({ op: (m[1] === '==' ? '=' : (m[1] ?? '=')) as VersionBound['op'], version: m[2]! });
  }
  if (!out.length) throw badRequest('version range is empty');
  return out;
}

/** Whether a package version of this type satisfies every bound (types without an ordering compare exactly). */
export function inVersionRange(packageType: string, version: string, bounds: VersionBound[]): boolean {
  const scheme = SCHEME[packageType];
  return bounds.every((b) => {
    let c: number;
    if (scheme) {
      try {
        c = compareVersions(scheme, version, b.version);
      } catch {
        return false;
      }
    } else {
      if (b.op !== '=') return false;
      c = version === b.version ? 0 : 1;
    }
    switch (b.op) {
      case '<':
        return c < 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      case '>=':
        return c >= 0;
      default:
        return c === 0;
    }
  });
}

export interface VulnerabilitySearch {
  cve?: string;
  package?: string;
  version?: string;
  severity?: string;
  project?: string;
  page: PageRequest;
}

/**
 * The security hub: vulnerabilities across every artifact the caller may read (system admins: all; others: public
 * projects and their own; robots: the projects they hold permissions in). Backed by `report_findings`, which the scan
 * service fills when it writes a report.
 */
export class SecurityHubService {
  constructor(
    private readonly db: DB,
    private readonly projects: ProjectService,
  ) {}

  private async scope(p: Principal): Promise<ProjectScope> {
    if (p.kind === 'anonymous') throw unauthorized();
    if (isSystemAdmin(p)) return { all: true };
    if (p.kind === 'robot') return { all: false, projectIds: [...p.permissions.keys()] };
    return { all: false, userId: p.id };
  }

  private async projectId(p: Principal, name: string | undefined): Promise<number | undefined> {
    if (!name) return undefined;
    return (await this.projects.get(p, name)).id;
  }

  /** Findings matching a CVE (or advisory id), a package (and version range), a minimum severity, a project; paginated. */
  async search(p: Principal, q: VulnerabilitySearch): Promise<KeysetPage<FindingHit>> {
    const scope = await this.scope(p);
    if (q.cve !== undefined && !ADVISORY_ID.test(q.cve)) throw badRequest('cve must be a CVE or advisory id');
    if (q.package !== undefined && (q.package.length === 0 || q.package.length > 255)) throw badRequest('package must be 1 to 255 characters');
    if (q.severity !== undefined && !isSeverity(q.severity)) throw badRequest(`severity must be one of ${SEVERITIES.join(', ')}`);
    if (q.version !== undefined && !q.package) throw badRequest('a version range needs a package');
    const bounds = q.version !== undefined ? parseVersionRange(q.version) : null;
    const projectId = await this.projectId(p, q.project);
    const minRank = q.severity ? severityRank(q.severity as Severity) : undefined;
    const base = { cve: q.cve, package: q.package, minRank, projectId, scope };
    if (!bounds) return searchFindings(this.db, { ...base, page: q.page });
    // A version range is matched in memory (each ecosystem's own ordering): scan up to RANGE_SCAN_CAP findings of the
    // package from the cursor's position on, keep those in range. Forward only: pages carry next cursors.
    const { limit, offset = 0, at } = q.page;
    const scan = await searchFindings(this.db, { ...base, page: { limit: RANGE_SCAN_CAP, at: at && !at.before ? at : undefined } });
    const hits = scan.items.filter((h) => inVersionRange(h.packageType, h.version, bounds));
    const items = hits.slice(at ? 0 : offset, (at ? 0 : offset) + limit);
    const more = hits.length > (at ? 0 : offset) + limit || scan.next !== null;
    const last = items[items.length - 1];
    return { items, next: more && last ? [last.artifactId, last.id] : null, prev: null, total: at || scan.next ? null : hits.length };
  }

  async summary(p: Principal, opts: { project?: string } = {}): Promise<SecuritySummary> {
    const scope = await this.scope(p);
    return securitySummary(this.db, scope, await this.projectId(p, opts.project));
  }
}
