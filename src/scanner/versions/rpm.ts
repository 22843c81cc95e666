import { CH_0, compareCodeUnits, compareDigitRuns } from './ranges.js';

/**
 * RPM package version ordering (`rpmvercmp` plus epoch:version-release handling) for Red Hat, Rocky Linux,
 * AlmaLinux, SUSE, openSUSE and Mageia advisories.
 *
 * The string is split as rpm's `parseEVR` does: an epoch only when the string starts with digits followed by
 * a colon (so `a:1` or `1.m+e2:1` are plain versions), and the release after the LAST hyphen. Epochs are
 * compared numerically (missing = 0), then the versions, then the releases with `rpmvercmp`.
 *
 * One deliberate difference from rpm: rpm skips the release comparison when either side has none (a
 * dependency on `foo = 1.0` matches every release), but an advisory's fixed version is an exact package
 * version, so here a missing release sorts before any release, including an empty one (`1 < 1- < 1-0`).
 */

const CH_9 = 0x39;
const CH_TILDE = 0x7e;
const CH_CARET = 0x5e;

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** rpm treats everything but ASCII alphanumerics, `~` and `^` as a separator whose identity does not matter. */
function isSeparator(c: number): boolean {
  return !isDigit(c) && !isAsciiLetter(c) && c !== CH_TILDE && c !== CH_CARET;
}

/**
 * rpm's `rpmvercmp` over `a[i, ae)` and `b[j, be)`: alternating runs of digits (numeric, any length) and
 * letters (strcmp), separators skipped. `~` sorts before anything including the end (pre-releases); `^`
 * sorts after the end but before anything else (post-release snapshots, `1.0 < 1.0^git1 < 1.0.1`).
 */
function rpmvercmp(a: string, i: number, ae: number, b: string, j: number, be: number): number {
  while (i < ae || j < be) {
    while (i < ae && isSeparator(a.charCodeAt(i))) i++;
    while (j < be && isSeparator(b.charCodeAt(j))) j++;
    const ac = i < ae ? a.charCodeAt(i) : -1;
    const bc = j < be ? b.charCodeAt(j) : -1;

    if (ac === CH_TILDE || bc === CH_TILDE) {
      if (ac !== CH_TILDE) return 1;
      if (bc !== CH_TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ac === CH_CARET || bc === CH_CARET) {
      if (ac < 0) return -1;
      if (bc < 0) return 1;
      if (ac !== CH_CARET) return 1;
      if (bc !== CH_CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (ac < 0 || bc < 0) break;

    // The run type is chosen by `a`; if `b` has no run of that type there, a number beats letters.
    const numeric = isDigit(ac);
    const is = i;
    const js = j;
    if (numeric) {
      while (i < ae && isDigit(a.charCodeAt(i))) i++;
      while (j < be && isDigit(b.charCodeAt(j))) j++;
    } else {
      while (i < ae && isAsciiLetter(a.charCodeAt(i))) i++;
      while (j < be && isAsciiLetter(b.charCodeAt(j))) j++;
    }
    if (j === js) return numeric ? 1 : -1;

    let d: number;
    if (numeric) {
      let x = is;
      let y = js;
      while (x < i && a.charCodeAt(x) === CH_0) x++;
      while (y < j && b.charCodeAt(y) === CH_0) y++;
      const la = i - x;
      const lb = j - y;
      d = la !== lb ? la - lb : compareCodeUnits(a, x, i, b, y, j);
    } else {
      d = compareCodeUnits(a, is, i, b, js, j);
    }
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  // Segments all matched: whichever side still has characters left wins (separators were already skipped).
  const aLeft = i < ae;
  const bLeft = j < be;
  if (aLeft === bLeft) return 0;
  return aLeft ? 1 : -1;
}

/** Index of the colon ending a leading all-digit epoch (possibly empty, as in `:1`), or -1. */
function epochColon(v: string): number {
  let k = 0;
  while (k < v.length && isDigit(v.charCodeAt(k))) k++;
  return k < v.length && v.charCodeAt(k) === 0x3a ? k : -1;
}

/**
 * Compares two RPM `[epoch:]version[-release]` strings.
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b`.
 */
export function compareRpm(a: string, b: string): number {
  if (a === b) return 0;
  const ac = epochColon(a);
  const bc = epochColon(b);
  // Epochs are all digits; a missing or empty one is 0.
  const ep = compareDigitRuns(a, 0, ac < 0 ? 0 : ac, b, 0, bc < 0 ? 0 : bc);
  if (ep !== 0) return ep;

  const aStart = ac + 1;
  const bStart = bc + 1;
  let ah = a.lastIndexOf('-');
  let bh = b.lastIndexOf('-');
  if (ah < aStart) ah = -1;
  if (bh < bStart) bh = -1;

  const v = rpmvercmp(a, aStart, ah < 0 ? a.length : ah, b, bStart, bh < 0 ? b.length : bh);
  if (v !== 0) return v;
  if (ah < 0 || bh < 0) return ah < 0 ? (bh < 0 ? 0 : -1) : 1;
  return rpmvercmp(a, ah + 1, a.length, b, bh + 1, b.length);
}

/**
 * Whether `v` is a well-formed RPM EVR: an optional all-digit epoch, a non-empty version and, after a
 * hyphen, a non-empty release, each made of ASCII alphanumerics and `._+~^` (rpm forbids `-` inside the
 * version and release themselves, which the last-hyphen split enforces for the release).
 */
export function isValidRpm(v: string): boolean {
  const colon = epochColon(v);
  if (colon === 0) return false;
  const start = colon + 1;
  const hyphen = v.indexOf('-', start);
  if (hyphen >= 0 && v.indexOf('-', hyphen + 1) >= 0) return false;
  const vEnd = hyphen < 0 ? v.length : hyphen;
  if (vEnd === start || (hyphen >= 0 && hyphen === v.length - 1)) return false;
  for (let k = start; k < v.length; k++) {
    if (k === hyphen) continue;
    const c = v.charCodeAt(k);
    if (isDigit(c) || isAsciiLetter(c) || c === 0x2e || c === 0x5f || c === 0x2b || c === CH_TILDE || c === CH_CARET) continue;
    return false;
  }
  return true;
}
