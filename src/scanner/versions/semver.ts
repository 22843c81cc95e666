import { CH_0, compareCodeUnits, compareDigitRuns } from './ranges.js';

/**
 * SemVer 2.0.0 precedence for npm, Go and crates.io advisories.
 *
 * Advisory data is not always strict SemVer, so the comparison is tolerant in ways that cannot change the
 * order of strict versions:
 * - a leading `v` or `V` (Go module versions) is ignored;
 * - missing minor or patch numbers are 0 (`1.2 = 1.2.0`);
 * - numbers may have leading zeros and any length (compared numerically without overflow);
 * - extra numeric components (`1.2.3.4`) extend the release tuple, missing ones being 0, so a four-part
 *   version still orders sensibly against its neighbours.
 *
 * Build metadata (`+...`) is ignored, as SemVer requires. Strings that do not have this shape at all are
 * ordered before every parseable version and among themselves by plain string comparison, so that the order
 * stays total and deterministic.
 */

const CH_9 = 0x39;
const CH_DOT = 0x2e;
const CH_HYPHEN = 0x2d;
const CH_PLUS = 0x2b;

// Layout of a parse result in a scratch array.
const CORE_START = 0; // first digit of the release numbers
const CORE_END = 1; // end of the release numbers
const PRE_START = 2; // pre-release identifiers [PRE_START, PRE_END), or -1 when there is no pre-release
const PRE_END = 3;
const OK = 4; // 1 when the string has the tolerated shape
const SLOTS = 5;

const scratchA = new Int32Array(SLOTS);
const scratchB = new Int32Array(SLOTS);

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

/** SemVer identifier characters: `[0-9A-Za-z-]`. */
function isIdentChar(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === CH_HYPHEN;
}

/** Scans a dot-separated list of non-empty identifiers from `i`; returns its end, or -1 if malformed. */
function scanIdentifiers(v: string, i: number, stopAtPlus: boolean): number {
  const n = v.length;
  for (;;) {
    const s = i;
    while (i < n && isIdentChar(v.charCodeAt(i))) i++;
    if (i === s) return -1;
    if (i === n) return i;
    const c = v.charCodeAt(i);
    if (c === CH_DOT) {
      i++;
      continue;
    }
    return stopAtPlus && c === CH_PLUS ? i : -1;
  }
}

function parse(v: string, out: Int32Array): void {
  const n = v.length;
  out[OK] = 0;
  out[PRE_START] = -1;
  out[PRE_END] = -1;
  let i = 0;
  if (i < n && (v.charCodeAt(i) === 0x76 || v.charCodeAt(i) === 0x56)) i++; // v / V
  out[CORE_START] = i;
  if (i >= n || !isDigit(v.charCodeAt(i))) return;
  for (;;) {
    while (i < n && isDigit(v.charCodeAt(i))) i++;
    if (i + 1 < n && v.charCodeAt(i) === CH_DOT && isDigit(v.charCodeAt(i + 1))) i++;
    else break;
  }
  out[CORE_END] = i;
  if (i < n && v.charCodeAt(i) === CH_HYPHEN) {
    const end = scanIdentifiers(v, i + 1, true);
    if (end < 0) return;
    out[PRE_START] = i + 1;
    out[PRE_END] = end;
    i = end;
  }
  if (i < n) {
    if (v.charCodeAt(i) !== CH_PLUS || scanIdentifiers(v, i + 1, false) < 0) return;
  }
  out[OK] = 1;
}

function compareRelease(a: string, pa: Int32Array, b: string, pb: Int32Array): number {
  let i = pa[CORE_START]!;
  let j = pb[CORE_START]!;
  const ae = pa[CORE_END]!;
  const be = pb[CORE_END]!;
  while (i < ae || j < be) {
    const is = i;
    const js = j;
    while (i < ae && a.charCodeAt(i) !== CH_DOT) i++;
    while (j < be && b.charCodeAt(j) !== CH_DOT) j++;
    const d = compareDigitRuns(a, is, i, b, js, j);
    if (d !== 0) return d;
    if (i < ae) i++;
    if (j < be) j++;
  }
  return 0;
}

function isAllDigits(v: string, s: number, e: number): boolean {
  for (let k = s; k < e; k++) if (!isDigit(v.charCodeAt(k))) return false;
  return true;
}

/** SemVer §11.4: identifiers left to right; numeric ones numerically and below alphanumeric ones. */
function comparePrerelease(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  let i = as;
  let j = bs;
  for (;;) {
    if (i >= ae || j >= be) {
      // A larger set of identifiers wins when all preceding ones are equal.
      if (i >= ae && j >= be) return 0;
      return i >= ae ? -1 : 1;
    }
    const is = i;
    const js = j;
    while (i < ae && a.charCodeAt(i) !== CH_DOT) i++;
    while (j < be && b.charCodeAt(j) !== CH_DOT) j++;
    const an = isAllDigits(a, is, i);
    const bn = isAllDigits(b, js, j);
    let d: number;
    if (an && bn) d = compareDigitRuns(a, is, i, b, js, j);
    else if (an !== bn) d = an ? -1 : 1;
    else d = compareCodeUnits(a, is, i, b, js, j);
    if (d !== 0) return d;
    i++;
    j++;
  }
}

/**
 * Compares two versions by SemVer 2.0.0 precedence (see the module comment for the tolerated deviations).
 *
 * @returns a negative number if `a < b`, 0 if they have the same precedence, a positive number if `a > b`.
 */
export function compareSemver(a: string, b: string): number {
  if (a === b) return 0;
  const pa = scratchA;
  const pb = scratchB;
  parse(a, pa);
  parse(b, pb);
  if (pa[OK] !== 1 || pb[OK] !== 1) {
    if (pa[OK] === pb[OK]) return a < b ? -1 : 1;
    return pa[OK] === 1 ? 1 : -1;
  }

  const d = compareRelease(a, pa, b, pb);
  if (d !== 0) return d;

  const aPre = pa[PRE_START]!;
  const bPre = pb[PRE_START]!;
  // A pre-release has lower precedence than the release itself.
  if (aPre < 0 || bPre < 0) return aPre < 0 ? (bPre < 0 ? 0 : 1) : -1;
  return comparePrerelease(a, aPre, pa[PRE_END]!, b, bPre, pb[PRE_END]!);
}

/**
 * Whether `v` is a SemVer 2.0.0 version, additionally allowing a leading `v` and omitted minor/patch numbers
 * (`v1.2`); numbers and numeric pre-release identifiers must not have leading zeros.
 */
export function isValidSemver(v: string): boolean {
  const p = scratchA;
  parse(v, p);
  if (p[OK] !== 1) return false;
  let parts = 0;
  let s = p[CORE_START]!;
  const e = p[CORE_END]!;
  for (let k = s; k <= e; k++) {
    if (k === e || v.charCodeAt(k) === CH_DOT) {
      if (k - s > 1 && v.charCodeAt(s) === CH_0) return false;
      parts++;
      s = k + 1;
    }
  }
  if (parts > 3) return false;
  const ps = p[PRE_START]!;
  if (ps >= 0) {
    const pe = p[PRE_END]!;
    s = ps;
    for (let k = ps; k <= pe; k++) {
      if (k === pe || v.charCodeAt(k) === CH_DOT) {
        if (k - s > 1 && v.charCodeAt(s) === CH_0 && isAllDigits(v, s, k)) return false;
        s = k + 1;
      }
    }
  }
  return true;
}
