/**
 * RubyGems version order (`Gem::Version#<=>`):
 *
 * - the version is split into segments at dots and at every switch between digits and letters (`1.0a1` is
 *   `1.0.a.1`); a `-` means `.pre.` (`1.0-1` is the pre-release `1.0.pre.1`);
 * - the segments before the first letter segment are the release, the rest the pre-release part; trailing zeros
 *   are dropped from each part (`1.0 = 1`, `1.a.0 = 1.a`);
 * - segments compare left to right, a missing one counting as 0: numbers numerically, letters as strings, and a
 *   number is above a string (so any pre-release sorts before its release).
 */
import { compareCodeUnits, compareDigitRuns } from './ranges.js';

function segments(version: string): string[] {
  const v = version.trim().replace(/-/g, '.pre.');
  const raw = v.match(/[0-9]+|[^0-9.]+/g) ?? [];
  const segs = raw.map((s) => (/^[0-9]/.test(s) ? s.replace(/^0+(?=\d)/, '') : s));
  const firstString = segs.findIndex((s) => !/^[0-9]/.test(s));
  const release = firstString < 0 ? segs : segs.slice(0, firstString);
  const pre = firstString < 0 ? [] : segs.slice(firstString);
  const trim = (p: string[]) => {
    let n = p.length;
    while (n > 0 && p[n - 1] === '0') n--;
    return p.slice(0, n);
  };
  return [...trim(release), ...trim(pre)];
}

const numeric = (s: string) => s.charCodeAt(0) >= 0x30 && s.charCodeAt(0) <= 0x39;

/**
 * Compares two RubyGems versions.
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b`.
 */
export function compareRubyGems(a: string, b: string): number {
  if (a === b) return 0;
  const sa = segments(a);
  const sb = segments(b);
  const n = Math.max(sa.length, sb.length);
  for (let i = 0; i < n; i++) {
    const x = sa[i] ?? '0';
    const y = sb[i] ?? '0';
    const xn = numeric(x);
    const yn = numeric(y);
    let d: number;
    if (xn && yn) d = compareDigitRuns(x, 0, x.length, y, 0, y.length);
    else if (xn !== yn) d = xn ? 1 : -1;
    else d = compareCodeUnits(x, 0, x.length, y, 0, y.length);
    if (d !== 0) return d;
  }
  return 0;
}

/** `Gem::Version::ANCHORED_VERSION_PATTERN`: `[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`. */
export function isValidRubyGems(v: string): boolean {
  return /^\s*[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\s*$/.test(v) && v.length <= 256;
}
