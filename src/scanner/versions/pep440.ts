/**
 * PEP 440 version ordering for PyPI advisories, matching the `packaging` library's `Version` sort key.
 *
 * Valid versions are normalised the way `packaging` does (case-insensitive, `v` prefix, `alpha/beta/c/pre/
 * preview` spellings, `-`, `_` or `.` separators, implicit post releases `1.0-1`, missing numbers = 0) and
 * ordered by (epoch, release without trailing zeros, pre, post, dev, local), where a dev release of a final
 * version sorts before its pre-releases and a local version sorts after its public version.
 *
 * Strings that are not PEP 440 (PyPI still hosts many: `trunk`, `0.1-bulbasaur`) are ordered like
 * `packaging`'s `LegacyVersion` (before version 22), i.e. the setuptools scheme: before every valid version
 * and among themselves by their legacy key. The OSV advisory data and the oracle files depend on that.
 *
 * Parsing uses module-level (compiled once) regular expressions; parsed keys are memoised in a bounded cache because the
 * matcher compares the same few versions over and over.
 */

/** `packaging.version.VERSION_PATTERN`, anchored and case-insensitive. */
const VERSION_RE =
  /^\s*v?(?:(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\.[0-9]+)*)(?<pre>[-_.]?(?<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<pre_n>[0-9]+)?)?(?<post>(?:-(?<post_n1>[0-9]+))|(?:[-_.]?(?<post_l>post|rev|r)[-_.]?(?<post_n2>[0-9]+)?))?(?<dev>[-_.]?(?<dev_l>dev)[-_.]?(?<dev_n>[0-9]+)?)?)(?:\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;

/** Tokens of a legacy (setuptools) version: numbers, letter runs, dots and dashes; text in between is kept. */
const LEGACY_COMPONENT_RE = /(\d+|[a-z]+|\.|-)/;
const LOCAL_SEPARATOR_RE = /[-_.]/;
const DIGITS_RE = /^[0-9]+$/;
// A Map rather than an object literal so that tokens like "constructor" cannot hit Object.prototype.
const LEGACY_REPLACEMENTS: ReadonlyMap<string, string> = new Map([
  ['pre', 'c'],
  ['preview', 'c'],
  ['-', 'final-'],
  ['rc', 'c'],
  ['dev', '@'],
]);

/** Pre-release phases in order; {@link PRE_DEV_ONLY} and {@link PRE_NONE} stand for packaging's -inf/+inf. */
const PRE_DEV_ONLY = -1;
const PRE_NONE = 3;

/** One dot-separated part of a local version: numbers sort above strings and compare numerically. */
type LocalPart = { readonly numeric: boolean; readonly value: string };

interface ValidKey {
  readonly legacy: false;
  /** Numbers are kept as decimal strings without leading zeros ("" is 0) so that any length compares exactly. */
  readonly epoch: string;
  /** Release numbers with trailing zero components removed, so `1.0 = 1.0.0`. */
  readonly release: readonly string[];
  /** 0 = a, 1 = b, 2 = rc, {@link PRE_NONE} = no pre-release, {@link PRE_DEV_ONLY} = a bare dev release. */
  readonly preRank: number;
  readonly preNum: string;
  /** null sorts before every post release. */
  readonly post: string | null;
  /** null (not a dev release) sorts after every dev release. */
  readonly dev: string | null;
  /** null (no local part) sorts before every local version. */
  readonly local: readonly LocalPart[] | null;
}

interface LegacyKey {
  readonly legacy: true;
  readonly parts: readonly string[];
}

type Key = ValidKey | LegacyKey;

const CACHE_LIMIT = 10_000;
const cache = new Map<string, Key>();

function normNum(s: string | undefined): string {
  if (s === undefined) return '';
  let k = 0;
  while (k < s.length && s.charCodeAt(k) === 0x30) k++;
  return k === 0 ? s : s.slice(k);
}

/** Compares two normalised (no leading zeros) decimal strings. */
function compareNum(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function preRankOf(label: string): number {
  switch (label.toLowerCase()) {
    case 'a':
    case 'alpha':
      return 0;
    case 'b':
    case 'beta':
      return 1;
    default: // c, rc, pre, preview
      return 2;
  }
}

function parseValid(m: RegExpExecArray): ValidKey {
  const g = m.groups!;
  const release = g.release!.split('.').map(normNum);
  while (release.length > 0 && release[release.length - 1] === '') release.pop();

  const hasPre = g.pre !== undefined;
  const hasPost = g.post !== undefined;
  const hasDev = g.dev !== undefined;
  // packaging: a dev release without pre or post (1.0.dev1) sorts before the pre-releases (1.0a1).
  const preRank = hasPre ? preRankOf(g.pre_l!) : !hasPost && hasDev ? PRE_DEV_ONLY : PRE_NONE;

  let local: LocalPart[] | null = null;
  if (g.local !== undefined) {
    local = g.local
      .toLowerCase()
      .split(LOCAL_SEPARATOR_RE)
      .map((p) => (DIGITS_RE.test(p) ? { numeric: true, value: normNum(p) } : { numeric: false, value: p }));
  }

  return {
    legacy: false,
    epoch: normNum(g.epoch),
    release,
    preRank,
    preNum: normNum(g.pre_n),
    post: hasPost ? normNum(g.post_n1 ?? g.post_n2) : null,
    dev: hasDev ? normNum(g.dev_n) : null,
    local,
  };
}

/** `packaging.version._legacy_cmpkey`, minus the constant -1 epoch that places it before valid versions. */
function parseLegacy(version: string): LegacyKey {
  const parts: string[] = [];
  const push = (part: string): void => {
    if (part.startsWith('*')) {
      // Drop "-" before a pre-release tag, and trailing zeros of each numeric series.
      if (part < '*final') while (parts.length > 0 && parts[parts.length - 1] === '*final-') parts.pop();
      while (parts.length > 0 && parts[parts.length - 1] === '00000000') parts.pop();
    }
    parts.push(part);
  };
  for (const raw of version.toLowerCase().split(LEGACY_COMPONENT_RE)) {
    const part = LEGACY_REPLACEMENTS.get(raw) ?? raw;
    if (part === '' || part === '.') continue;
    const c = part.charCodeAt(0);
    // Numbers are zero-padded to 8 characters and then compared as strings, exactly like setuptools did.
    push(c >= 0x30 && c <= 0x39 ? part.padStart(8, '0') : '*' + part);
  }
  push('*final');
  return { legacy: true, parts };
}

function keyOf(v: string): Key {
  let key = cache.get(v);
  if (key !== undefined) return key;
  const m = VERSION_RE.exec(v);
  key = m !== null ? parseValid(m) : parseLegacy(v);
  // A full reset keeps the cache bounded without bookkeeping; the working set refills it quickly.
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(v, key);
  return key;
}

/** Python-style comparison of string tuples: element-wise, a shorter prefix sorting first. */
function compareStringTuples(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const x = a[k]!;
    const y = b[k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareRelease(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const d = compareNum(a[k]!, b[k]!);
    if (d !== 0) return d;
  }
  // Trailing zeros are stripped, so a longer release is strictly greater.
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareLocal(a: readonly LocalPart[] | null, b: readonly LocalPart[] | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const x = a[k]!;
    const y = b[k]!;
    let d: number;
    if (x.numeric !== y.numeric) d = x.numeric ? 1 : -1;
    else if (x.numeric) d = compareNum(x.value, y.value);
    else d = x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
    if (d !== 0) return d;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareNullableNum(a: string | null, b: string | null, nullIsLow: boolean): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === nullIsLow ? -1 : 1;
  }
  return compareNum(a, b);
}

function compareKeys(a: ValidKey, b: ValidKey): number {
  let d = compareNum(a.epoch, b.epoch);
  if (d !== 0) return d;
  d = compareRelease(a.release, b.release);
  if (d !== 0) return d;
  if (a.preRank !== b.preRank) return a.preRank < b.preRank ? -1 : 1;
  d = compareNum(a.preNum, b.preNum);
  if (d !== 0) return d;
  d = compareNullableNum(a.post, b.post, true);
  if (d !== 0) return d;
  d = compareNullableNum(a.dev, b.dev, false);
  if (d !== 0) return d;
  return compareLocal(a.local, b.local);
}

/**
 * Compares two Python package versions by PEP 440 (non-PEP 440 strings use the legacy setuptools order and
 * sort before all PEP 440 versions, as `packaging` < 22 does).
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b`.
 */
export function comparePep440(a: string, b: string): number {
  if (a === b) return 0;
  const ka = keyOf(a);
  const kb = keyOf(b);
  if (ka.legacy) return kb.legacy ? compareStringTuples(ka.parts, kb.parts) : -1;
  if (kb.legacy) return 1;
  return compareKeys(ka, kb);
}

/** Whether `v` is a valid PEP 440 version (in any of the spellings PEP 440 normalises). */
export function isValidPep440(v: string): boolean {
  return VERSION_RE.test(v);
}
