import type { AdvisoryStore } from './advisory-store.js';
import { normalizePypiName, type OsInfo, type Package } from './inventory.js';
import type { ImageGap, ImageInventory } from './layer-walker.js';
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
  /** every advisory id merged into this finding, when advisories that alias each other were merged */
  advisories?: string[];
}

/** Debian release numbers by codename (testing images name only their codename). */
const DEBIAN_CODENAMES: Readonly<Record<string, number>> = { jessie: 8, stretch: 9, buster: 10, bullseye: 11, bookworm: 12, trixie: 13, forky: 14, duke: 15 };

/** The package type a distribution's own packages have. */
export function osPackageType(os: OsInfo | null): Package['type'] | null {
  if (!os) return null;
  if (os.id === 'alpine' || os.id === 'wolfi' || os.id === 'chainguard') return 'apk';
  if (os.id === 'debian' || os.id === 'ubuntu') return 'deb';
  if (RPM_DISTROS.has(os.id)) return 'rpm';
  return null;
}

/** os-release ids of rpm-based distributions (only some have OSV advisories: the others are reported as gaps). */
const RPM_DISTROS = new Set([
  'rhel',
  'rocky',
  'almalinux',
  'centos',
  'fedora',
  'amzn',
  'ol',
  'sles',
  'sled',
  'sle-micro',
  'opensuse-leap',
  'opensuse-tumbleweed',
  'opensuse',
  'mariner',
  'azurelinux',
  'photon',
]);

/**
 * The OSV ecosystems whose advisories apply to this distro release (exact release only: others are ignored), for
 * releases the version number alone names.
 */
export function osEcosystems(os: OsInfo | null): string[] {
  if (!os) return [];
  const v = os.versionId;
  switch (os.id) {
    case 'debian': {
      const major = /^(\d+)/.exec(v)?.[1];
      if (major) return [`Debian:${major}`];
      const n = os.codename ? DEBIAN_CODENAMES[os.codename] : undefined;
      return n ? [`Debian:${n}`] : [];
    }
    case 'ubuntu': {
      const m = /^(\d+\.\d+)/.exec(v)?.[1];
      return m ? [`Ubuntu:${m}`, `Ubuntu:${m}:LTS`, `Ubuntu:Pro:${m}:LTS`] : [];
    }
    case 'alpine': {
      const m = /^(\d+)\.(\d+)/.exec(v);
      return m ? [`Alpine:v${m[1]}.${m[2]}`] : [];
    }
    case 'rocky': {
      const major = /^(\d+)/.exec(v)?.[1];
      return major ? [`Rocky Linux:${major}`] : [];
    }
    case 'almalinux': {
      const major = /^(\d+)/.exec(v)?.[1];
      return major ? [`AlmaLinux:${major}`] : [];
    }
    case 'opensuse-leap':
      return /^\d+\.\d+$/.test(v) ? [`openSUSE:Leap ${v}`] : [];
    case 'opensuse-tumbleweed':
      return ['openSUSE:Tumbleweed'];
    case 'wolfi':
      return ['Wolfi'];
    case 'chainguard':
      return ['Chainguard', 'Wolfi'];
    default:
      return [];
  }
}

export interface OsMatch {
  ecosystems: string[];
  /** how the release was chosen, when it was not exact (Debian testing/sid) */
  note?: string;
}

/**
 * The ecosystems to match an image's OS packages in, given what is loaded: the exact release when its advisories
 * are there; Debian testing/sid (no `VERSION_ID`) is matched against its codename's release if loaded, else the
 * newest Debian release loaded, and says so.
 */
export async function resolveOsEcosystems(store: AdvisoryStore, os: OsInfo | null): Promise<OsMatch> {
  const exact = osEcosystems(os);
  if (!os) return { ecosystems: exact };
  const major = /^(\d+)/.exec(os.versionId)?.[1];
  if (os.id === 'rhel') {
    // `Red Hat:enterprise_linux:9::appstream`, `Red Hat:rhel_eus:9.2::baseos`: the release's main streams, and the
    // extended streams of exactly this minor release
    if (!major) return { ecosystems: [] };
    const loaded = (await store.ecosystemsWithPrefix('Red Hat:')).filter((e) => {
      const release = e.split(':')[2];
      return (release === major && e.split(':')[1] === 'enterprise_linux') || release === os.versionId;
    });
    return { ecosystems: loaded.length ? loaded : [`Red Hat:enterprise_linux:${major}`] };
  }
  if (os.id === 'sles' || os.id === 'sled' || os.id === 'sle-micro') {
    // `SUSE:Linux Enterprise Server 15 SP3`, `SUSE:Linux Enterprise Module for Basesystem 15 SP3`, ...
    const m = /^(\d+)(?:\.(\d+))?/.exec(os.versionId);
    if (!m) return { ecosystems: [] };
    const release = m[2] && m[2] !== '0' ? `${m[1]} SP${m[2]}` : m[1]!;
    const loaded = (await store.ecosystemsWithPrefix('SUSE:')).filter((e) => e.endsWith(` ${release}`));
    return { ecosystems: loaded.length ? loaded : [`SUSE:Linux Enterprise Server ${release}`] };
  }
  if (os.id !== 'debian' || /^\d/.test(os.versionId)) return { ecosystems: exact };
  if (exact.length && (await store.hasAdvisories(exact))) return { ecosystems: exact, note: `Debian ${os.codename ?? 'testing/sid'} (no release number): matched against ${exact[0]}` };
  const loaded = (await store.ecosystemsWithPrefix('Debian:')).map((e) => Number(/^Debian:(\d+)$/.exec(e)?.[1] ?? NaN)).filter((n) => Number.isFinite(n));
  if (!loaded.length) return { ecosystems: exact };
  const newest = Math.max(...loaded);
  return { ecosystems: [`Debian:${newest}`], note: `Debian ${os.codename ?? 'testing/sid'} (no release number): matched against Debian:${newest}, the newest release with advisories loaded` };
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

/** Language ecosystems Berth reads: package type → OSV ecosystem, version scheme, and the name advisories use. */
const LANGUAGES: { type: Package['type']; ecosystem: string; scheme: VersionScheme; name: (p: Package) => string }[] = [
  { type: 'npm', ecosystem: 'npm', scheme: 'semver', name: (p) => p.name },
  { type: 'pypi', ecosystem: 'PyPI', scheme: 'pep440', name: (p) => normalizePypiName(p.name) },
  { type: 'golang', ecosystem: 'Go', scheme: 'semver', name: (p) => p.name },
  { type: 'maven', ecosystem: 'Maven', scheme: 'maven', name: (p) => p.name },
  { type: 'cargo', ecosystem: 'crates.io', scheme: 'semver', name: (p) => p.name },
  { type: 'gem', ecosystem: 'RubyGems', scheme: 'rubygems', name: (p) => p.name },
];

/**
 * What the matcher cannot judge for lack of advisories: OS packages of a distribution Berth has no ecosystem for,
 * or whose ecosystem has no advisories loaded, and language packages whose ecosystem has none. Each makes the
 * report incomplete.
 */
export async function coverageGaps(store: AdvisoryStore, inv: ImageInventory, os?: OsMatch): Promise<ImageGap[]> {
  const gaps: ImageGap[] = [];
  const osType = osPackageType(inv.os);
  const osPkgs = inv.packages.filter((p) => p.type === 'deb' || p.type === 'apk' || p.type === 'rpm');
  const osName = inv.os ? `${inv.os.id} ${inv.os.versionId || inv.os.codename || ''}`.trim() : null;
  if (osPkgs.length) {
    const ecos = os?.ecosystems ?? osEcosystems(inv.os);
    if (!inv.os) gaps.push({ reason: `${osPkgs.length} OS packages, but the distribution could not be identified: no advisory source` });
    else if (!ecos.length || !osType) gaps.push({ reason: `${osName}: no advisory source for this distribution (${osPkgs.length} packages not checked)` });
    else if (!(await store.hasAdvisories(ecos))) gaps.push({ reason: `${osName}: no advisories loaded for ${ecos[0]} (${osPkgs.length} packages not checked)` });
    else {
      const other = osPkgs.filter((p) => p.type !== osType).length;
      if (other) gaps.push({ reason: `${other} packages of another distribution's type in a ${osName} image: not checked` });
    }
  }
  for (const l of LANGUAGES) {
    const n = inv.packages.filter((p) => p.type === l.type).length;
    if (n && !(await store.hasAdvisories([l.ecosystem]))) gaps.push({ reason: `no advisories loaded for ${l.ecosystem} (${n} packages not checked)` });
  }
  return gaps;
}

/**
 * Matches an image inventory against the advisory database: Debian/Ubuntu/Alpine/Wolfi packages by source name and
 * source version in the release's ecosystems, language packages by name. One finding per vulnerability and installed
 * package: advisories that alias each other (GHSA, PYSEC, CVE, distro ids) merge into one finding that carries the
 * highest severity, the fix that fixes all of them, and every id.
 */
export async function matchInventory(store: AdvisoryStore, inv: ImageInventory, os?: OsMatch): Promise<Finding[]> {
  const queries: Query[] = [];
  const osEcos = os?.ecosystems ?? osEcosystems(inv.os);
  const osScheme = osEcos[0] ? schemeForEcosystem(osEcos[0]) : null;
  const osType = osPackageType(inv.os);
  const group = (pkgs: Package[], key: Query['key']) => {
    const m = new Map<string, Package[]>();
    for (const p of pkgs) {
      const k = key(p).name;
      m.set(k, [...(m.get(k) ?? []), p]);
    }
    return m;
  };
  if (osScheme && osType) {
    // Debian, Ubuntu and Alpine advisories name source packages; rpm distributions' name binary packages
    const key = osType === 'rpm' ? (p: Package) => ({ name: p.name, version: p.version }) : (p: Package) => ({ name: p.sourceName ?? p.name, version: p.sourceVersion ?? p.version });
    queries.push({
      ecosystems: osEcos,
      scheme: osScheme,
      byName: group(
        inv.packages.filter((p) => p.type === osType),
        key,
      ),
      key,
    });
  }
  for (const l of LANGUAGES) {
    const key = (p: Package) => ({ name: l.name(p), version: p.version });
    queries.push({
      ecosystems: [l.ecosystem],
      scheme: l.scheme,
      byName: group(
        inv.packages.filter((p) => p.type === l.type),
        key,
      ),
      key,
    });
  }

  const hits: { advisoryId: string; pkg: Package; fixed: string | null; on: { name: string; version: string }; scheme: VersionScheme }[] = [];
  for (const q of queries) {
    if (!q.byName.size) continue;
    const rows = await store.candidates(q.ecosystems, [...q.byName.keys()]);
    for (const row of rows) {
      for (const pkg of q.byName.get(row.name) ?? []) {
        const on = q.key(pkg);
        const r = isAffected(q.scheme, on.version, row.affected);
        if (r.affected) hits.push({ advisoryId: row.advisoryId, pkg, fixed: r.fixed, on, scheme: q.scheme });
      }
    }
  }
  const advisories = await store.advisories(hits.map((h) => h.advisoryId));
  const seen = new Set<string>();
  const out: (Finding & { scheme: VersionScheme })[] = [];
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
      scheme: h.scheme,
    });
  }
  return sortFindings(mergeAliases(out, (f) => (x, y) => compareVersions((f as { scheme: VersionScheme }).scheme, x, y)).map(({ scheme: _s, ...f }) => f as Finding));
}

export function sortFindings<T extends Finding>(out: T[]): T[] {
  return out.sort(
    (x, y) => severityRank(y.severity) - severityRank(x.severity) || (y.cvssScore ?? 0) - (x.cvssScore ?? 0) || x.package.localeCompare(y.package) || x.advisoryId.localeCompare(y.advisoryId),
  );
}

/**
 * Merges findings of one installed package (type, name, version, path) whose advisories share an id (an advisory's
 * own id or one of its aliases/upstream ids): the merged finding takes the most severe advisory's id, score and
 * summary, lists every other id in `aliases` and every advisory id in `advisories`, and offers the highest fix
 * (the version that fixes all of them; none when one of them has no fix).
 */
export function mergeAliases<T extends Finding>(findings: T[], order: (f: T) => ((a: string, b: string) => number) | null = () => null): T[] {
  const groups = new Map<string, T[]>();
  for (const f of findings) {
    const k = `${f.type}|${f.package}|${f.installedVersion}|${f.path}`;
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  const out: T[] = [];
  for (const list of groups.values()) {
    // union-find over findings, joined when their id sets meet
    const parent = list.map((_, i) => i);
    const find = (i: number): number => {
      if (parent[i] !== i) parent[i] = find(parent[i]!);
      return parent[i]!;
    };
    const owner = new Map<string, number>();
    list.forEach((f, i) => {
      for (const id of [f.advisoryId, ...f.aliases]) {
        const k = id.toUpperCase();
        const j = owner.get(k);
        if (j === undefined) owner.set(k, i);
        else parent[find(i)] = find(j);
      }
    });
    const sets = new Map<number, T[]>();
    for (const [i, f] of list.entries()) sets.set(find(i), [...(sets.get(find(i)) ?? []), f]);
    for (const set of sets.values()) {
      if (set.length === 1) {
        out.push(set[0]!);
        continue;
      }
      const ranked = [...set].sort((x, y) => severityRank(y.severity) - severityRank(x.severity) || (y.cvssScore ?? 0) - (x.cvssScore ?? 0) || x.advisoryId.localeCompare(y.advisoryId));
      const top = ranked[0]!;
      const ids = [...new Set(ranked.map((f) => f.advisoryId))];
      const aliases = [...new Set(ranked.flatMap((f) => [f.advisoryId, ...f.aliases]))].filter((a) => a !== top.advisoryId);
      const cmp = order(top);
      let fixed: string | null = null;
      if (set.every((f) => f.fixedVersion)) {
        const fixes = set.map((f) => f.fixedVersion!);
        fixed = fixes.reduce((a, b) => {
          if (!cmp) return a >= b ? a : b;
          try {
            return cmp(a, b) >= 0 ? a : b;
          } catch {
            return a;
          }
        });
      }
      out.push({ ...top, aliases, advisories: ids, fixedVersion: fixed, links: [...new Set(ranked.flatMap((f) => f.links))].slice(0, 10) });
    }
  }
  return out;
}
