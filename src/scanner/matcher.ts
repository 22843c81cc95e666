import type { AdvisoryStore } from './advisory-store.js';
import { normalizePypiName, type OsInfo, type Package } from './inventory.js';
import type { ImageInventory } from './layer-walker.js';
import type { AffectedPackage } from './osv.js';
import { severityRank, type Severity } from './severity.js';
import { compareVersions, schemeForEcosystem, type VersionScheme } from './versions/index.js';

export interface Finding {
  advisoryId: string;
  /** CVE and other ids the advisory names (aliases, and upstream for distro records) */
  aliases: string[];
  package: string;
  type: Package['type'];
  installedVersion: string;
  /** the source package and version the match was made on (Debian, Alpine) */
  sourceName?: string;
  sourceVersion?: string;
  fixedVersion: string | null;
  severity: Severity;
  cvssScore: number | null;
  cvssVector: string | null;
  summary: string | null;
  links: string[];
  path: string;
}

/** The OSV ecosystems whose advisories apply to this distro release (exact release only: others are ignored). */
export function osEcosystems(os: OsInfo | null): string[] {
  if (!os) return [];
  const v = os.versionId;
  switch (os.id) {
    case 'debian': {
      const major = /^(\d+)/.exec(v)?.[1];
      return major ? [`Debian:${major}`] : [];
    }
    case 'ubuntu':
      return v ? [`Ubuntu:${v}`, `Ubuntu:${v}:LTS`] : [];
    case 'alpine': {
      const m = /^(\d+)\.(\d+)/.exec(v);
      return m ? [`Alpine:v${m[1]}.${m[2]}`] : [];
    }
    default:
      return [];
  }
}

/**
 * Whether `version` is affected per one OSV affected entry: listed in `versions`, or inside a range. Range events
 * are applied in version order (introduced opens, fixed and limit close, last_affected closes after itself), which
 * handles several introduced/fixed pairs in one range. Returns the fix to offer, if any.
 */
export function isAffected(scheme: VersionScheme, version: string, a: AffectedPackage): { affected: boolean; fixed: string | null } {
  const cmp = (x: string, y: string) => compareVersions(scheme, x, y);
  const fixes: string[] = [];
  let affected = a.versions.some((v) => v === version || safe(() => cmp(v, version) === 0, false));
  for (const r of a.ranges) {
    const s: VersionScheme = r.type === 'SEMVER' ? 'semver' : scheme;
    const c = (x: string, y: string) => compareVersions(s, x, y);
    const evs = r.events
      .map((e) => {
        if (e.introduced !== undefined) return { kind: 'introduced' as const, v: e.introduced };
        if (e.fixed !== undefined) return { kind: 'fixed' as const, v: e.fixed };
        if (e.last_affected !== undefined) return { kind: 'last_affected' as const, v: e.last_affected };
        if (e.limit !== undefined) return { kind: 'limit' as const, v: e.limit };
        return null;
      })
      .filter((e): e is NonNullable<typeof e> => e !== null);
    const sorted = [...evs].sort((x, y) => (x.v === '0' ? -1 : y.v === '0' ? 1 : safe(() => c(x.v, y.v), 0)));
    let inRange = false;
    for (const e of sorted) {
      if (e.kind === 'introduced') {
        if (e.v === '0' || safe(() => c(version, e.v) >= 0, false)) inRange = true;
      } else if (e.kind === 'fixed') {
        if (safe(() => c(version, e.v) >= 0, false)) inRange = false;
      } else if (e.kind === 'last_affected') {
        if (safe(() => c(version, e.v) > 0, false)) inRange = false;
      } else if (e.kind === 'limit') {
        if (e.v !== '*' && safe(() => c(version, e.v) >= 0, false)) inRange = false;
      }
    }
    if (inRange) {
      affected = true;
      for (const e of sorted) if (e.kind === 'fixed' && safe(() => c(e.v, version) > 0, false)) fixes.push(e.v);
    }
  }
  fixes.sort((x, y) => safe(() => cmp(x, y), 0));
  return { affected, fixed: affected ? (fixes[0] ?? null) : null };
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

interface Query {
  ecosystems: string[];
  scheme: VersionScheme;
  byName: Map<string, Package[]>;
  /** what each package is matched on */
  key: (p: Package) => { name: string; version: string };
}

/**
 * Matches an image inventory against the advisory database: Debian/Ubuntu/Alpine packages by source name and
 * source version in the exact release's ecosystem, npm and PyPI packages by name. One finding per advisory and
 * installed package.
 */
export async function matchInventory(store: AdvisoryStore, inv: ImageInventory): Promise<Finding[]> {
  const queries: Query[] = [];
  const osEcos = osEcosystems(inv.os);
  const osScheme = osEcos[0] ? schemeForEcosystem(osEcos[0]) : null;
  const group = (pkgs: Package[], key: Query['key']) => {
    const m = new Map<string, Package[]>();
    for (const p of pkgs) {
      const k = key(p).name;
      m.set(k, [...(m.get(k) ?? []), p]);
    }
    return m;
  };
  if (osScheme) {
    const type = inv.os?.id === 'alpine' ? 'apk' : 'deb';
    const key = (p: Package) => ({ name: p.sourceName ?? p.name, version: p.sourceVersion ?? p.version });
    queries.push({ ecosystems: osEcos, scheme: osScheme, byName: group(inv.packages.filter((p) => p.type === type), key), key });
  }
  const npmKey = (p: Package) => ({ name: p.name, version: p.version });
  queries.push({ ecosystems: ['npm'], scheme: 'semver', byName: group(inv.packages.filter((p) => p.type === 'npm'), npmKey), key: npmKey });
  const pyKey = (p: Package) => ({ name: normalizePypiName(p.name), version: p.version });
  queries.push({ ecosystems: ['PyPI'], scheme: 'pep440', byName: group(inv.packages.filter((p) => p.type === 'pypi'), pyKey), key: pyKey });

  const hits: { advisoryId: string; pkg: Package; fixed: string | null; on: { name: string; version: string } }[] = [];
  for (const q of queries) {
    if (!q.byName.size) continue;
    const rows = await store.candidates(q.ecosystems, [...q.byName.keys()]);
    for (const row of rows) {
      for (const pkg of q.byName.get(row.name) ?? []) {
        const on = q.key(pkg);
        const r = isAffected(q.scheme, on.version, row.affected);
        if (r.affected) hits.push({ advisoryId: row.advisoryId, pkg, fixed: r.fixed, on });
      }
    }
  }
  const advisories = await store.advisories(hits.map((h) => h.advisoryId));
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const h of hits) {
    const a = advisories.get(h.advisoryId);
    if (!a) continue;
    const key = `${h.advisoryId}|${h.pkg.type}|${h.pkg.name}|${h.pkg.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      advisoryId: a.id,
      aliases: [...new Set([...a.aliases, ...a.upstream])],
      package: h.pkg.name,
      type: h.pkg.type,
      installedVersion: h.pkg.version,
      sourceName: h.pkg.type === 'deb' || h.pkg.type === 'apk' ? h.on.name : undefined,
      sourceVersion: h.pkg.type === 'deb' || h.pkg.type === 'apk' ? h.on.version : undefined,
      fixedVersion: h.fixed,
      severity: a.severity as Severity,
      cvssScore: a.cvssScore,
      cvssVector: a.cvssVector,
      summary: a.summary,
      links: a.refs.slice(0, 10),
      path: h.pkg.path,
    });
  }
  out.sort((x, y) => severityRank(y.severity) - severityRank(x.severity) || (y.cvssScore ?? 0) - (x.cvssScore ?? 0) || x.package.localeCompare(y.package) || x.advisoryId.localeCompare(y.advisoryId));
  return out;
}
