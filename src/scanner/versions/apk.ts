import { CH_0, compareCodeUnits, compareDigitRuns } from './ranges.js';

/**
 * Alpine package version ordering, following apk-tools' `apk_version_compare` (the current, Gentoo-style
 * implementation) for Alpine advisories.
 *
 * Grammar: `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`
 *
 * - numbers: the first is compared numerically; a later one is compared as a string when either side starts
 *   with `0` (so `1.01 < 1.1` and `1.010 > 1.01`, as in apk-tools), else numerically. A missing number is 0.
 * - letter: one lower-case ASCII letter; no letter sorts before any letter.
 * - suffixes: `_alpha _beta _pre _rc` sort before "no suffix", `_cvs _svn _git _hg _p` after, each followed
 *   by an optional number (missing = 0).
 * - `~hash`: a commit hash, ignored for ordering because hashes carry no order.
 * - `-rN`: the package revision, compared numerically (missing or empty = 0, so `1-r = 1-r0 = 1`).
 *
 * Whatever follows the parts above is a "remainder". apk-tools orders a version with a remainder below the
 * same version without one (`1-r-0 < 1-r0`, `1 > 1-ruff`) but otherwise ignores its content
 * (`1-r0-1 = 1-r-2`). When the unparsed text does not even start a `-r` revision the version is invalid; two
 * invalid versions are compared as plain strings, as the oracle data records for apk (`0..8 > 0...8`).
 *
 * Parsing writes offsets into two preallocated scratch arrays so a comparison allocates nothing.
 */

const CH_9 = 0x39;
const CH_DOT = 0x2e;
const CH_UNDERSCORE = 0x5f;
const CH_TILDE = 0x7e;
const CH_HYPHEN = 0x2d;
const CH_r = 0x72;

/** Suffix names in ascending order; "no suffix" sits between `rc` and `cvs`. `pre` precedes `p` so it wins. */
const SUFFIXES = ['alpha', 'beta', 'pre', 'rc', 'cvs', 'svn', 'git', 'hg', 'p'] as const;
/** The suffix weights, parallel to {@link SUFFIXES}; {@link NO_SUFFIX} is the weight of a missing suffix. */
const SUFFIX_WEIGHTS = [0, 1, 2, 3, 5, 6, 7, 8, 9] as const;
const NO_SUFFIX = 4;

// Layout of a parse result in a scratch array.
const COMP_END = 0; // end of the dotted numbers (== 0 when there are none)
const LETTER = 1; // offset of the letter, or -1
const SUF_START = 2; // suffix region [SUF_START, SUF_END)
const SUF_END = 3;
const BUILD_START = 4; // revision digits [BUILD_START, BUILD_END), or -1 when there is no `-r`
const BUILD_END = 5;
const REST = 6; // offset of the remainder (== length when there is none)
const INVALID = 7; // 1 when the remainder does not start a `-r` revision
const SLOTS = 8;

const scratchA = new Int32Array(SLOTS);
const scratchB = new Int32Array(SLOTS);

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

function isLowerHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66);
}

function skipDigits(v: string, i: number): number {
  while (i < v.length && isDigit(v.charCodeAt(i))) i++;
  return i;
}

/** The index into {@link SUFFIXES} of the suffix name starting at `i`, or -1. */
function suffixAt(v: string, i: number): number {
  for (let k = 0; k < SUFFIXES.length; k++) if (v.startsWith(SUFFIXES[k]!, i)) return k;
  return -1;
}

function parse(v: string, out: Int32Array): void {
  const n = v.length;
  let i = 0;
  if (i < n && isDigit(v.charCodeAt(i))) {
    i = skipDigits(v, i);
    // A dot belongs to the numbers only when another number follows it; otherwise it starts the remainder.
    while (i + 1 < n && v.charCodeAt(i) === CH_DOT && isDigit(v.charCodeAt(i + 1))) i = skipDigits(v, i + 1);
  }
  out[COMP_END] = i;

  out[LETTER] = -1;
  if (i < n) {
    const c = v.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) out[LETTER] = i++;
  }

  out[SUF_START] = i;
  while (i < n && v.charCodeAt(i) === CH_UNDERSCORE) {
    const k = suffixAt(v, i + 1);
    if (k < 0) break;
    i = skipDigits(v, i + 1 + SUFFIXES[k]!.length);
  }
  out[SUF_END] = i;

  if (i + 1 < n && v.charCodeAt(i) === CH_TILDE && isLowerHex(v.charCodeAt(i + 1))) {
    i += 2;
    while (i < n && isLowerHex(v.charCodeAt(i))) i++;
  }

  out[BUILD_START] = -1;
  out[BUILD_END] = -1;
  out[INVALID] = 0;
  if (i + 1 < n && v.charCodeAt(i) === CH_HYPHEN && v.charCodeAt(i + 1) === CH_r) {
    out[BUILD_START] = i + 2;
    i = skipDigits(v, i + 2);
    out[BUILD_END] = i;
  } else if (i < n) {
    out[INVALID] = 1;
  }
  out[REST] = i;
}

function compareNumbers(a: string, pa: Int32Array, b: string, pb: Int32Array): number {
  const ae = pa[COMP_END]!;
  const be = pb[COMP_END]!;
  let i = 0;
  let j = 0;
  let first = true;
  while (i < ae || j < be) {
    const is = i;
    const js = j;
    i = skipDigits(a, i);
    j = skipDigits(b, j);
    if (i > ae) i = ae;
    if (j > be) j = be;
    const aPresent = i > is;
    const bPresent = j > js;
    let d: number;
    // Leading zeros mark a fractional-style part (`1.01`); apk-tools then falls back to a string comparison.
    // A missing part is a plain 0 and is always compared numerically.
    if (!first && aPresent && bPresent && (a.charCodeAt(is) === CH_0 || b.charCodeAt(js) === CH_0)) {
      d = compareCodeUnits(a, is, i, b, js, j);
    } else {
      d = compareDigitRuns(a, is, i, b, js, j);
    }
    if (d !== 0) return d;
    first = false;
    if (i < ae) i++; // the dot
    if (j < be) j++;
  }
  return 0;
}

/** Reads the suffix at `i` (which starts with `_`): returns its weight and leaves the number range in `range`. */
function readSuffix(v: string, i: number, range: Int32Array): number {
  const k = suffixAt(v, i + 1);
  const ns = i + 1 + SUFFIXES[k]!.length;
  range[0] = ns;
  range[1] = skipDigits(v, ns);
  return SUFFIX_WEIGHTS[k]!;
}

const sufA = new Int32Array(2);
const sufB = new Int32Array(2);

function compareSuffixes(a: string, pa: Int32Array, b: string, pb: Int32Array): number {
  let i = pa[SUF_START]!;
  let j = pb[SUF_START]!;
  const ae = pa[SUF_END]!;
  const be = pb[SUF_END]!;
  while (i < ae || j < be) {
    let wa = NO_SUFFIX;
    let wb = NO_SUFFIX;
    sufA[0] = sufA[1] = 0;
    sufB[0] = sufB[1] = 0;
    if (i < ae) {
      wa = readSuffix(a, i, sufA);
      i = sufA[1]!;
    }
    if (j < be) {
      wb = readSuffix(b, j, sufB);
      j = sufB[1]!;
    }
    if (wa !== wb) return wa < wb ? -1 : 1;
    const d = compareDigitRuns(a, sufA[0]!, sufA[1]!, b, sufB[0]!, sufB[1]!);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Compares two Alpine package versions the way apk-tools' `apk version -t` does.
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b`.
 */
export function compareApk(a: string, b: string): number {
  if (a === b) return 0;
  const pa = scratchA;
  const pb = scratchB;
  parse(a, pa);
  parse(b, pb);

  if (pa[INVALID] === 1 && pb[INVALID] === 1) return a < b ? -1 : 1;

  let d = compareNumbers(a, pa, b, pb);
  if (d !== 0) return d;

  const la = pa[LETTER]!;
  const lb = pb[LETTER]!;
  if (la >= 0 || lb >= 0) {
    if (la < 0) return -1;
    if (lb < 0) return 1;
    d = a.charCodeAt(la) - b.charCodeAt(lb);
    if (d !== 0) return d < 0 ? -1 : 1;
  }

  d = compareSuffixes(a, pa, b, pb);
  if (d !== 0) return d;

  const bsA = pa[BUILD_START]!;
  const bsB = pb[BUILD_START]!;
  d = compareDigitRuns(a, bsA < 0 ? 0 : bsA, bsA < 0 ? 0 : pa[BUILD_END]!, b, bsB < 0 ? 0 : bsB, bsB < 0 ? 0 : pb[BUILD_END]!);
  if (d !== 0) return d;

  const restA = pa[REST]! < a.length;
  const restB = pb[REST]! < b.length;
  if (restA !== restB) return restA ? -1 : 1;
  return 0;
}

/**
 * Whether `v` is a well-formed apk version (see the module comment for the grammar): at least one number,
 * nothing left over, and a revision, when present, with at least one digit.
 */
export function isValidApk(v: string): boolean {
  const p = scratchA;
  parse(v, p);
  if (p[COMP_END] === 0 || p[REST] !== v.length) return false;
  return p[BUILD_START]! < 0 || p[BUILD_END]! > p[BUILD_START]!;
}
