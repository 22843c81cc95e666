import { strToU8, zipSync as fzip } from 'fflate';

/** A zip archive of text files (for OSV import tests). */
export function zipSync(files: Record<string, string>): Buffer {
  return Buffer.from(fzip(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))));
}
