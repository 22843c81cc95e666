/**
 * Maven version order, as Maven's `ComparableVersion` and the published "Version Order Specification" define it
 * (https://maven.apache.org/pom.html#version-order-specification):
 *
 * - a version is split into tokens at `.`, at `-` and at every switch between digits and other characters; a
 *   switch counts as `-`. Empty tokens are `0`. Tokens are case-insensitive;
 * - `a`, `b` and `m` directly followed by a digit mean `alpha`, `beta` and `milestone`; `cr` is `rc`; `ga`,
 *   `final` and `release` are the empty qualifier;
 * - trailing "null" tokens (`0`, ``, `final`, `ga`) are dropped, at the end and before each remaining `-`;
 * - the shorter version is padded with null tokens of the other's separator (`.0` or `-`);
 * - same separator: numbers numerically and after qualifiers; qualifiers `alpha` < `beta` < `milestone` < `rc` <
 *   `snapshot` < `` < `sp` < any other (those alphabetically); different separators: `.qualifier` < `-qualifier` <
 *   `-number` < `.number`.
 */
import { compareCodeUnits, compareDigitRuns } from './ranges.js';

interface Token {
  /** '' (the first token), '.' or '-' */
  sep: string;
  value: string;
  numeric: boolean;
  /** a padding token */
  pad?: boolean;
}

const KEYWORDS: readonly string[] = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const keyword = (v: string) => {
  const i = KEYWORDS.indexOf(v);
  return i < 0 ? KEYWORDS.length : i;
};
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const allDigits = (s: string) => s.length > 0 && [...s].every((ch) => isDigit(ch.charCodeAt(0)));
const isNull = (t: Token) => t.value === '0' || t.value === '' || t.value === 'final' || t.value === 'ga';

function tokenize(version: string): Token[] {
  const tokens: Token[] = [];
  let sep = '';
  let start = 0;
  const push = (raw: string, s: string, atSwitch: boolean) => {
    let v = raw.toLowerCase();
    if (v === '') v = '0';
    if (v === 'cr') v = 'rc';
    else if (v === 'ga' || v === 'final' || v === 'release') v = '';
    else if (atSwitch && (v === 'a' || v === 'b' || v === 'm')) v = v === 'a' ? 'alpha' : v === 'b' ? 'beta' : 'milestone';
    const numeric = allDigits(v);
    if (numeric) v = v.replace(/^0+(?=\d)/, '');
    tokens.push({ sep: s, value: v, numeric });
  };
  const part = (raw: string, s: string) => {
    // split at digit / non-digit switches: the pieces after the first are `-`-separated
    let from = 0;
    let first = true;
    for (let i = 1; i <= raw.length; i++) {
      if (i === raw.length || isDigit(raw.charCodeAt(i)) !== isDigit(raw.charCodeAt(i - 1))) {
        push(raw.slice(from, i), first ? s : '-', i !== raw.length);
        first = false;
        from = i;
      }
    }
    if (raw.length === 0) push('', s, false);
  };
  for (let i = 0; i <= version.length; i++) {
    const c = version[i];
    if (i === version.length || c === '.' || c === '-') {
      part(version.slice(start, i), sep);
      sep = c ?? '';
      start = i + 1;
    }
  }
  // trailing null tokens go, at the end and before every remaining `-`
  let i = tokens.length - 1;
  while (i > 0) {
    if (isNull(tokens[i]!)) {
      tokens.splice(i, 1);
      i--;
      continue;
    }
    while (i >= 0 && tokens[i]!.sep !== '-') i--;
    i--;
  }
  return tokens;
}

/** The padding for a missing token, against the other version's token `t`. */
function pad(t: Token): Token {
  if (t.sep === '-') return { sep: '-', value: '', numeric: false, pad: true };
  // `sp` is the one qualifier above the empty one: `1.0 < 1.0.sp`, so `.sp` meets the empty qualifier
  return t.value === 'sp' ? { sep: '.', value: '', numeric: false, pad: true } : { sep: '.', value: '0', numeric: true, pad: true };
}

function sepRank(t: Token): number {
  if (t.numeric) return t.sep === '-' ? 2 : 3;
  return t.sep === '-' ? 1 : 0;
}

function compareTokens(a: Token, b: Token): number {
  if (a.sep !== b.sep) return Math.sign(sepRank(a) - sepRank(b));
  if (a.numeric && b.numeric) return compareDigitRuns(a.value, 0, a.value.length, b.value, 0, b.value.length);
  // numbers sort after qualifiers, except a padding zero, which compares as a qualifier
  if (a.numeric && !a.pad) return 1;
  if (b.numeric && !b.pad) return -1;
  const ka = keyword(a.value);
  const kb = keyword(b.value);
  if (ka === KEYWORDS.length && kb === KEYWORDS.length) return compareCodeUnits(a.value, 0, a.value.length, b.value, 0, b.value.length);
  return Math.sign(ka - kb);
}

/**
 * Compares two Maven versions.
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b`.
 */
export function compareMaven(a: string, b: string): number {
  if (a === b) return 0;
  const ta = tokenize(a.trim());
  const tb = tokenize(b.trim());
  const n = Math.max(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    const x = ta[i] ?? pad(tb[i]!);
    const y = tb[i] ?? pad(ta[i]!);
    if (x.sep === y.sep && x.value === y.value) continue;
    const d = compareTokens(x, y);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether `v` looks like a Maven version: non-empty, no whitespace, and starting with a digit. */
export function isValidMaven(v: string): boolean {
  return /^\d[^\s]*$/.test(v) && v.length <= 256;
}
