/**
 * Range comparisons shared by the version orderings. They work on index ranges of the original strings, so a
 * comparison allocates nothing (the matcher calls them millions of times).
 */

export const CH_0 = 0x30;

/** Numeric comparison of two all-digit ranges of any length (leading zeros ignored; an empty range is 0): -1, 0 or 1. */
export function compareDigitRuns(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  while (as < ae && a.charCodeAt(as) === CH_0) as++;
  while (bs < be && b.charCodeAt(bs) === CH_0) bs++;
  const la = ae - as;
  const lb = be - bs;
  if (la !== lb) return la < lb ? -1 : 1;
  for (let k = 0; k < la; k++) {
    const d = a.charCodeAt(as + k) - b.charCodeAt(bs + k);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** strcmp over two ranges, by UTF-16 code unit, a shorter prefix sorting first: -1, 0 or 1. */
export function compareCodeUnits(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  const la = ae - as;
  const lb = be - bs;
  const m = la < lb ? la : lb;
  for (let k = 0; k < m; k++) {
    const d = a.charCodeAt(as + k) - b.charCodeAt(bs + k);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return la === lb ? 0 : la < lb ? -1 : 1;
}
