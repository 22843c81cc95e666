/**
 * Reading JSON text columns back. A column written by an older release, or by hand, may hold anything; a reader
 * takes what it can use and never throws on a row.
 */

/** The strings of a JSON array column: `[]` for unparsable text or a non-array, non-string items dropped. */
export function stringList(s: string): string[] {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
