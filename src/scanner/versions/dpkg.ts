import { CH_0, compareDigitRuns } from './ranges.js';

/**
 * Debian package version ordering, as implemented by dpkg (`lib/dpkg/version.c`: `dpkg_version_compare` and
 * `verrevcmp`), for Debian and Ubuntu advisories.
 *
 * A version is `[epoch:]upstream[-revision]`. The epoch ends at the first colon; the revision starts after the
 * LAST hyphen, so hyphens inside the upstream part are allowed only when a revision is present. A missing
 * epoch is 0 and a missing revision compares like the empty string, which `verrevcmp` treats as equal to "0"
 * (so `1.0 = 1.0-0`).
 *
 * The comparison works on string indexes rather than parsed parts: the matcher calls it millions of times and
 * this keeps each call free of allocations.
 */

const CH_9 = 0x39;
const CH_TILDE = 0x7e;
const CH_COLON = 0x3a;
const CH_HYPHEN = 0x2d;

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * dpkg's character weight inside a non-digit run. `~` sorts before everything, including the end of the
 * string (weight 0), which is how `1.0~rc1 < 1.0` works; letters sort before all other punctuation.
 * `c` is -1 at the end of the range.
 */
function order(c: number): number {
  if (c < 0 || isDigit(c)) return 0;
  if (isAsciiLetter(c)) return c;
  if (c === CH_TILDE) return -1;
  return c + 256;
}

/**
 * dpkg's `verrevcmp` over `a[as, ae)` and `b[bs, be)`: alternate non-digit runs (compared character by
 * character with {@link order}) and digit runs (compared numerically, of any length, without parsing them
 * into numbers so that very long runs cannot overflow).
 */
function verrevcmp(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  let i = as;
  let j = bs;
  while (i < ae || j < be) {
    // Non-digit run. A position at the end of its range reads as -1 (weight 0, "end of string").
    for (;;) {
      const ac = i < ae ? a.charCodeAt(i) : -1;
      const bc = j < be ? b.charCodeAt(j) : -1;
      const aMore = ac >= 0 && !isDigit(ac);
      const bMore = bc >= 0 && !isDigit(bc);
      if (!aMore && !bMore) break;
      const d = order(ac) - order(bc);
      if (d !== 0) return d;
      i++;
      j++;
    }
    // Digit run: skip leading zeros, then the longer run wins, else the first differing digit decides.
    while (i < ae && a.charCodeAt(i) === CH_0) i++;
    while (j < be && b.charCodeAt(j) === CH_0) j++;
    let firstDiff = 0;
    while (i < ae && j < be) {
      const ac = a.charCodeAt(i);
      const bc = b.charCodeAt(j);
      if (!isDigit(ac) || !isDigit(bc)) break;
      if (firstDiff === 0) firstDiff = ac - bc;
      i++;
      j++;
    }
    if (i < ae && isDigit(a.charCodeAt(i))) return 1;
    if (j < be && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/** Index of the colon ending a numeric epoch, or -1 when the version has no (numeric) epoch. */
function epochEnd(v: string): number {
  const colon = v.indexOf(':');
  if (colon <= 0) return -1;
  for (let k = 0; k < colon; k++) if (!isDigit(v.charCodeAt(k))) return -1;
  return colon;
}

/**
 * Compares two Debian package versions the way `dpkg --compare-versions` does.
 *
 * A colon whose prefix is not all digits is not an epoch (dpkg rejects such versions); it is then compared
 * as part of the upstream version so that malformed advisory data still orders deterministically.
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b`.
 */
export function compareDpkg(a: string, b: string): number {
  if (a === b) return 0;
  const ac = epochEnd(a);
  const bc = epochEnd(b);
  // A missing epoch is 0, which the empty range represents once leading zeros are skipped.
  const ep = compareDigitRuns(a, 0, ac < 0 ? 0 : ac, b, 0, bc < 0 ? 0 : bc);
  if (ep !== 0) return ep;

  const aStart = ac + 1;
  const bStart = bc + 1;
  let aHyphen = a.lastIndexOf('-');
  let bHyphen = b.lastIndexOf('-');
  if (aHyphen < aStart) aHyphen = -1;
  if (bHyphen < bStart) bHyphen = -1;
  const aUpEnd = aHyphen < 0 ? a.length : aHyphen;
  const bUpEnd = bHyphen < 0 ? b.length : bHyphen;

  const up = verrevcmp(a, aStart, aUpEnd, b, bStart, bUpEnd);
  if (up !== 0) return up;
  // A missing revision is the empty range, which verrevcmp orders exactly like "0".
  return verrevcmp(a, aHyphen < 0 ? a.length : aHyphen + 1, a.length, b, bHyphen < 0 ? b.length : bHyphen + 1, b.length);
}

/**
 * Whether `v` is a syntactically valid Debian version per dpkg's `parseversion`: an optional all-digit epoch,
 * an upstream version that starts with a digit and holds only alphanumerics and `.+~-:` (a hyphen only when a
 * revision follows, a colon only after an epoch), and an optional revision of alphanumerics and `.+~`.
 */
export function isValidDpkg(v: string): boolean {
  if (v.length === 0) return false;
  const colon = v.indexOf(':');
  let start = 0;
  if (colon >= 0) {
    if (colon === 0) return false;
    for (let k = 0; k < colon; k++) if (!isDigit(v.charCodeAt(k))) return false;
    start = colon + 1;
  }
  const hyphen = v.lastIndexOf('-');
  const upEnd = hyphen >= start ? hyphen : v.length;
  if (upEnd === start || !isDigit(v.charCodeAt(start))) return false;
  for (let k = start; k < upEnd; k++) {
    const c = v.charCodeAt(k);
    if (isDigit(c) || isAsciiLetter(c) || c === 0x2e || c === 0x2b || c === CH_TILDE || c === CH_HYPHEN) continue;
    // dpkg only accepts a colon in the upstream part when an epoch makes the first colon unambiguous.
    if (c === CH_COLON && colon >= 0) continue;
    return false;
  }
  if (hyphen >= start) {
    if (hyphen === v.length - 1) return false;
    for (let k = hyphen + 1; k < v.length; k++) {
      const c = v.charCodeAt(k);
      if (!(isDigit(c) || isAsciiLetter(c) || c === 0x2e || c === 0x2b || c === CH_TILDE)) return false;
    }
  }
  return true;
}
