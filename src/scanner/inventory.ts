/**
 * What a layer tells about installed software: parsers for the package databases Berth reads. Every input comes
 * from a pushed image and is hostile: parsers are total (never throw), bound what they keep, and skip what they
 * do not understand.
 */

/** `other`: a package an external scanner reported, of a type Berth does not read itself. */
export type PackageType = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven' | 'cargo' | 'gem' | 'other';

export interface Package {
  type: PackageType;
  name: string;
  version: string;
  /** the source package (Debian `Source:`, Alpine origin); advisories for these distros name it */
  sourceName?: string;
  sourceVersion?: string;
  arch?: string;
  license?: string;
  /** the file it was found in */
  path: string;
}

export interface OsInfo {
  id: string;
  versionId: string;
  codename?: string;
  prettyName?: string;
}

export type FileKind =
  | 'os-release'
  | 'debian_version'
  | 'alpine-release'
  | 'redhat-release'
  | 'lsb-release'
  | 'dpkg-status'
  | 'dpkg-status-d'
  | 'apk-installed'
  | 'npm'
  | 'pypi'
  | 'rpmdb'
  | 'go-binary'
  | 'java-archive'
  | 'gemspec'
  | 'rust-binary';

/** Size caps per kind: bigger files are skipped (and reported), never read into memory. */
export const MAX_BYTES: Record<FileKind, number> = {
  'os-release': 64 * 1024,
  debian_version: 4096,
  'alpine-release': 4096,
  'redhat-release': 4096,
  'lsb-release': 4096,
  'dpkg-status': 64 * 1024 * 1024,
  'dpkg-status-d': 4 * 1024 * 1024,
  'apk-installed': 64 * 1024 * 1024,
  npm: 1024 * 1024,
  pypi: 4 * 1024 * 1024,
  // copied to a temporary file (not memory) and read there
  rpmdb: 1024 * 1024 * 1024,
  // executables are streamed through the build-info scanner, never kept
  'go-binary': 1024 * 1024 * 1024,
  // held in memory while its zip directory is read: a bigger archive is a gap
  'java-archive': 128 * 1024 * 1024,
  gemspec: 1024 * 1024,
  // streamed through the cargo-auditable scanner with Go's, never kept
  'rust-binary': 1024 * 1024 * 1024,
};

const NPM_ROOT = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/;
const GEMSPEC = /(?:^|\/)specifications\/(?:default\/)?[^/]+\.gemspec$/;
const JAVA_ARCHIVE = /\.(?:jar|war|ear)$/;
const PYPI_META = /(?:^|\/)[^/]+\.dist-info\/METADATA$|(?:^|\/)[^/]+\.egg-info(?:\/PKG-INFO)?$/;

/** Which parser a (normalised, relative) path needs, if any. */
export function relevantKind(path: string): FileKind | null {
  switch (path) {
    case 'etc/os-release':
    case 'usr/lib/os-release':
      return 'os-release';
    case 'etc/debian_version':
      return 'debian_version';
    case 'etc/alpine-release':
      return 'alpine-release';
    case 'etc/redhat-release':
    case 'etc/system-release':
    case 'etc/centos-release':
    case 'etc/rocky-release':
    case 'etc/almalinux-release':
      return 'redhat-release';
    case 'etc/lsb-release':
      return 'lsb-release';
    case 'var/lib/dpkg/status':
      return 'dpkg-status';
    case 'lib/apk/db/installed':
      return 'apk-installed';
    case 'var/lib/rpm/rpmdb.sqlite':
    case 'usr/lib/sysimage/rpm/rpmdb.sqlite':
    case 'var/lib/rpm/Packages.db':
    case 'usr/lib/sysimage/rpm/Packages.db':
    case 'var/lib/rpm/Packages':
    case 'usr/lib/sysimage/rpm/Packages':
    case 'usr/share/rpm/Packages':
      return 'rpmdb';
  }
  if (path.startsWith('var/lib/dpkg/status.d/') && !path.endsWith('.md5sums') && path.indexOf('/', 'var/lib/dpkg/status.d/'.length) === -1) return 'dpkg-status-d';
  if (path.endsWith('/package.json') && NPM_ROOT.test(path)) return 'npm';
  if (path.endsWith('.gemspec') && GEMSPEC.test(path)) return 'gemspec';
  if (JAVA_ARCHIVE.test(path)) return 'java-archive';
  if ((path.endsWith('/METADATA') || path.endsWith('PKG-INFO') || path.endsWith('.egg-info')) && PYPI_META.test(path)) return 'pypi';
  return null;
}

/** dpkg states whose package files are (at least partly) on disk. */
const DPKG_ON_DISK = new Set(['installed', 'unpacked', 'half-configured', 'half-installed', 'triggers-awaited', 'triggers-pending']);

const clip = (s: string, n = 256) => (s.length > n ? s.slice(0, n) : s);
const MAX_PACKAGES = 200_000;

/** `KEY=value` lines; quotes removed. */
export function parseOsRelease(text: string): OsInfo | null {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1]!, m[2]!.replace(/^["']|["']$/g, '').trim());
  }
  const id = kv.get('ID');
  if (!id) return null;
  return {
    id: clip(id.toLowerCase(), 64),
    versionId: clip(kv.get('VERSION_ID') ?? '', 64),
    codename: kv.get('VERSION_CODENAME') ? clip(kv.get('VERSION_CODENAME')!, 64) : undefined,
    prettyName: kv.get('PRETTY_NAME') ? clip(kv.get('PRETTY_NAME')!, 128) : undefined,
  };
}

/**
 * The distro from the files older or trimmed images have instead of os-release: `etc/redhat-release` (and its
 * siblings: "Rocky Linux release 9.3 (Blue Onyx)") and `etc/lsb-release` (`DISTRIB_ID`, `DISTRIB_RELEASE`).
 */
export function osFromReleaseFile(kind: 'redhat-release' | 'lsb-release', text: string): OsInfo | null {
  if (kind === 'lsb-release') {
    const id = /^DISTRIB_ID=["']?([^"'\n]+)/m.exec(text)?.[1]?.trim().toLowerCase();
    const version = /^DISTRIB_RELEASE=["']?([^"'\n]+)/m.exec(text)?.[1]?.trim();
    const codename = /^DISTRIB_CODENAME=["']?([^"'\n]+)/m.exec(text)?.[1]?.trim();
    return id ? { id: clip(id, 64), versionId: clip(version ?? '', 64), codename: codename ? clip(codename, 64) : undefined } : null;
  }
  const m = /^(.*?)\s+release\s+(\d+(?:\.\d+)*)/i.exec(text.trim());
  if (!m) return null;
  const name = m[1]!.toLowerCase();
  const id = name.startsWith('rocky')
    ? 'rocky'
    : name.startsWith('almalinux')
      ? 'almalinux'
      : name.startsWith('red hat')
        ? 'rhel'
        : name.startsWith('centos')
          ? 'centos'
          : name.startsWith('fedora')
            ? 'fedora'
            : name.startsWith('amazon')
              ? 'amzn'
              : name.startsWith('oracle')
                ? 'ol'
                : null;
  return id ? { id, versionId: m[2]!, prettyName: clip(text.trim(), 128) } : null;
}

/** Debian stanzas: `Field: value`, continuation lines start with a space, stanzas separated by blank lines. */
function* stanzas(text: string): Generator<Map<string, string>> {
  let cur = new Map<string, string>();
  let last = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') {
      if (cur.size) yield cur;
      cur = new Map();
      last = '';
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') continue; // continuation (descriptions, conffiles): not needed
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i);
    if (!cur.has(last)) cur.set(last, line.slice(i + 1).trim());
  }
  if (cur.size) yield cur;
}

/**
 * dpkg's status database (or one `status.d/` file of distroless images). A stanza counts when its files are on
 * disk: every status but `not-installed` and `config-files` (so `installed`, `unpacked`, `half-configured`,
 * `half-installed`, `triggers-awaited` and `triggers-pending` count, whatever the selection). `Source: name (version)`
 * gives the source package and, for binNMUs and epoch-only-on-binary cases, the source version.
 */
export function parseDpkgStatus(text: string, path: string, requireStatus = true): Package[] {
  const out: Package[] = [];
  for (const st of stanzas(text)) {
    const name = st.get('Package');
    const version = st.get('Version');
    if (!name || !version) continue;
    if (requireStatus || st.has('Status')) {
      // `Status: <want> <flag> <status>`
      const status = (st.get('Status') ?? '').trim().split(/\s+/);
      const state = status.length === 3 ? status[2]! : '';
      if (!DPKG_ON_DISK.has(state)) continue;
    }
    let sourceName = name;
    let sourceVersion = version;
    const src = st.get('Source');
    if (src) {
      const m = /^(\S+)(?:\s+\(([^)]+)\))?$/.exec(src);
      if (m) {
        sourceName = m[1]!;
        if (m[2]) sourceVersion = m[2].trim();
      }
    }
    out.push({
      type: 'deb',
      name: clip(name),
      version: clip(version),
      sourceName: clip(sourceName),
      sourceVersion: clip(sourceVersion),
      arch: st.get('Architecture') ? clip(st.get('Architecture')!, 32) : undefined,
      path,
    });
    if (out.length >= MAX_PACKAGES) break;
  }
  return out;
}

/** apk's installed database: `P:` name, `V:` version, `o:` origin (the source), `A:` arch, `L:` license. */
export function parseApkInstalled(text: string, path: string): Package[] {
  const out: Package[] = [];
  let cur: Record<string, string> = {};
  const flush = () => {
    if (cur.P && cur.V)
      out.push({
        type: 'apk',
        name: clip(cur.P),
        version: clip(cur.V),
        sourceName: clip(cur.o ?? cur.P),
        sourceVersion: clip(cur.V),
        arch: cur.A ? clip(cur.A, 32) : undefined,
        license: cur.L ? clip(cur.L) : undefined,
        path,
      });
    cur = {};
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') {
      flush();
      if (out.length >= MAX_PACKAGES) return out;
      continue;
    }
    if (line.length > 2 && line[1] === ':' && !(line[0]! in cur)) cur[line[0]!] = line.slice(2);
  }
  flush();
  return out;
}

/** A package root's package.json: name and version as npm writes them. */
export function parseNpmPackageJson(text: string, path: string): Package[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (!doc || typeof doc !== 'object') return [];
  const { name, version, license } = doc as { name?: unknown; version?: unknown; license?: unknown };
  if (typeof name !== 'string' || typeof version !== 'string' || !name || !version || name.length > 214) return [];
  return [{ type: 'npm', name, version: clip(version, 128), license: typeof license === 'string' ? clip(license) : undefined, path }];
}

/** Python core metadata (`METADATA`, `PKG-INFO`): the `Name:` and `Version:` headers before the body. */
export function parsePythonMetadata(text: string, path: string): Package[] {
  let name: string | undefined;
  let version: string | undefined;
  let license: string | undefined;
  for (const line of text.split('\n', 200)) {
    if (line.trim() === '') break; // headers end at the first blank line
    const m = /^(Name|Version|License):\s*(.+?)\s*$/.exec(line);
    if (!m) continue;
    if (m[1] === 'Name' && !name) name = m[2];
    else if (m[1] === 'Version' && !version) version = m[2];
    else if (m[1] === 'License' && !license) license = m[2];
  }
  if (!name || !version) return [];
  return [{ type: 'pypi', name: clip(name), version: clip(version, 128), license: license ? clip(license) : undefined, path }];
}

/**
 * An installed gem's specification (`specifications/<name>-<version>.gemspec`), as RubyGems writes it: Ruby code,
 * never run here. Only literal assignments are read: `s.name = "rake".freeze`, `s.version = "13.0.3"` (or
 * `Gem::Version.new("…")`), `s.licenses = ["MIT".freeze]`; the `# stub: <name> <version> <platform>` line is the
 * fallback. The version must be a RubyGems version.
 */
export function parseGemspec(text: string, path: string): Package[] {
  const head = text.length > 256 * 1024 ? text.slice(0, 256 * 1024) : text;
  // `"x"`, `'x'` or the `%q{x}` older RubyGems wrote, optionally inside `Gem::Version.new(…)`
  const str = (field: string) => {
    const m = new RegExp(`^[ \\t]*\\w+\\.${field}[ \\t]*=[ \\t]*(?:Gem::Version\\.new\\([ \\t]*)?(?:(["'])([^"'\\\\\\n]{1,256})\\1|%q\\{([^}\\n]{1,256})\\})`, 'm').exec(head);
    return m?.[2] ?? m?.[3];
  };
  const stub = /^#[ \t]*stub:[ \t]+(\S+)[ \t]+(\S+)/m.exec(head);
  const name = str('name') ?? stub?.[1];
  const version = str('version') ?? stub?.[2];
  if (!name || !version || !/^[A-Za-z0-9._-]{1,128}$/.test(name) || !/^[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.test(version)) return [];
  const lic = /^[ \t]*\w+\.licenses?[ \t]*=[ \t]*\[?[ \t]*(?:(["'])([^"'\\\n]{1,128})\1|%q\{([^}\n]{1,128})\})/m.exec(head);
  return [{ type: 'gem', name, version: clip(version, 128), license: lic?.[2] ?? lic?.[3], path }];
}

/** PEP 503 normalised project name (what PyPI advisories use). */
export const normalizePypiName = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '-');
