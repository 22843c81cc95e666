/**
 * Java archives (jar, war, ear, and the jars nested in them: `WEB-INF/lib/`, Spring Boot's `BOOT-INF/lib/`, an
 * ear's modules): the Maven coordinates of what they contain.
 *
 * Each archive is read from its zip central directory. Every `META-INF/maven/<group>/<artifact>/pom.properties`
 * gives a package (`groupId:artifactId`, `version`), shaded dependencies of fat jars included. An archive without
 * any falls back to its `META-INF/MANIFEST.MF` (`Implementation-*` / `Bundle-*` fields). Nested archives are read
 * the same way, to a bounded depth. Everything is bounded: entries, inflated sizes (per entry and in total) and
 * depth; what is over a bound is reported, never silently dropped.
 */
import zlib from 'node:zlib';
import type { Package } from './inventory.js';

export interface JavaLimits {
  /** nested archives are read to this depth (the outer archive is depth 0) */
  maxDepth: number;
  /** inflated size of one nested archive */
  maxNestedBytes: number;
  /** inflated bytes read from all entries of one outer archive, nested ones included */
  maxTotalBytes: number;
  /** central-directory entries looked at per archive */
  maxEntries: number;
}

export const JAVA_LIMITS: JavaLimits = { maxDepth: 3, maxNestedBytes: 32 * 1024 * 1024, maxTotalBytes: 256 * 1024 * 1024, maxEntries: 200_000 };

const MAX_POM = 64 * 1024;
const MAX_MANIFEST = 1024 * 1024;
const MAX_PACKAGES = 20_000;

export interface JavaResult {
  packages: Package[];
  /** what could not be read, in this archive or a nested one (`inner` names the nested archive) */
  gaps: { inner?: string; reason: string }[];
  /** archives read without any coordinates (a note, not a gap) */
  unidentified: string[];
}

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** A zip's central directory, ZIP64 included. Throws on a malformed archive. */
export function zipEntries(buf: Buffer, maxEntries: number): { entries: ZipEntry[]; truncated: boolean } {
  // the end-of-central-directory record is in the last 64 KiB + 22 bytes
  const from = Math.max(0, buf.length - 65_557);
  let eocd = -1;
  for (let i = buf.length - 22; i >= from; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== 0x07064b50) throw new Error('ZIP64 end of central directory locator missing');
    const z64 = Number(buf.readBigUInt64LE(loc + 8));
    if (z64 < 0 || z64 + 56 > buf.length || buf.readUInt32LE(z64) !== 0x06064b50) throw new Error('ZIP64 end of central directory missing');
    count = Number(buf.readBigUInt64LE(z64 + 32));
    cdSize = Number(buf.readBigUInt64LE(z64 + 40));
    cdOffset = Number(buf.readBigUInt64LE(z64 + 48));
  }
  // a prefix (a launcher script before the zip, as in executable jars) shifts every offset
  const shift = eocd - cdSize - cdOffset >= 0 && buf.readUInt32LE(cdOffset) !== 0x02014b50 ? eocd - cdSize - cdOffset : 0;
  let at = cdOffset + shift;
  const entries: ZipEntry[] = [];
  for (let k = 0; k < count; k++) {
    if (entries.length >= maxEntries) return { entries, truncated: true };
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== 0x02014b50) throw new Error('central directory is damaged');
    const flags = buf.readUInt16LE(at + 8);
    const method = buf.readUInt16LE(at + 10);
    let compressedSize = buf.readUInt32LE(at + 20);
    let size = buf.readUInt32LE(at + 24);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    let localOffset = buf.readUInt32LE(at + 42);
    if (at + 46 + nameLen + extraLen > buf.length) throw new Error('central directory is damaged');
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      // ZIP64 extended information: the 8-byte values that were 0xffffffff, in this order
      let e = at + 46 + nameLen;
      const end = e + extraLen;
      while (e + 4 <= end) {
        const id = buf.readUInt16LE(e);
        const len = buf.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let p = e + 4;
          const next = () => {
            if (p + 8 > e + 4 + len) throw new Error('ZIP64 extra field is damaged');
            const v = Number(buf.readBigUInt64LE(p));
            p += 8;
            return v;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localOffset === 0xffffffff) localOffset = next();
          break;
        }
        e += 4 + len;
      }
    }
    entries.push({ name, method, flags, compressedSize, size, localOffset: localOffset + shift });
    at += 46 + nameLen + extraLen + commentLen;
  }
  return { entries, truncated: false };
}

/** One entry's bytes, inflated; null when over `max` (by its declared or actual size). Throws when damaged. */
function entryData(buf: Buffer, e: ZipEntry, max: number): Buffer | null {
  if (e.flags & 1) throw new Error('encrypted');
  if (e.size > max) return null;
  const lh = e.localOffset;
  if (lh < 0 || lh + 30 > buf.length || buf.readUInt32LE(lh) !== 0x04034b50) throw new Error('local header is damaged');
  const start = lh + 30 + buf.readUInt16LE(lh + 26) + buf.readUInt16LE(lh + 28);
  const end = start + e.compressedSize;
  if (end > buf.length) throw new Error('entry runs past the end of the archive');
  const data = buf.subarray(start, end);
  if (e.method === 0) return data.length > max ? null : data;
  if (e.method !== 8) throw new Error(`compression method ${e.method} is not supported`);
  try {
    return zlib.inflateRawSync(data, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return null;
    throw err;
  }
}

/** Java `.properties`: `key=value`, `key: value` or `key value`; `#` and `!` comments. */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/, 1000)) {
    const line = raw.trim();
    if (!line || line[0] === '#' || line[0] === '!') continue;
    const m = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(line);
    if (m && !out.has(m[1]!)) out.set(m[1]!, m[2]!.trim());
  }
  return out;
}

/** A manifest's main section (up to the first blank line), continuation lines joined. */
export function parseManifest(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | null = null;
  for (const line of text.split(/\r?\n|\r/, 20_000)) {
    if (line === '') break;
    if (line[0] === ' ' && last) {
      out.set(last, out.get(last)! + line.slice(1));
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i).trim();
    if (!out.has(last)) out.set(last, line.slice(i + 1).trim());
    else last = null;
  }
  return out;
}

const GROUP = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const clip = (s: string, n = 256) => (s.length > n ? s.slice(0, n) : s);

/**
 * Coordinates from a manifest, for archives without pom.properties: the version from `Implementation-Version`
 * (else `Bundle-Version`), the artifact from the file name (its version suffix removed), the group from
 * `Implementation-Vendor-Id`, or from `Bundle-SymbolicName` when that ends with `.<artifact>`. Null when any is
 * missing: a guessed name would match the wrong advisories.
 */
export function coordinatesFromManifest(m: Map<string, string>, fileName: string): { group: string; artifact: string; version: string } | null {
  const version = m.get('Implementation-Version') || m.get('Bundle-Version');
  if (!version || /\s/.test(version)) return null;
  const base = fileName.replace(/\.(jar|war|ear)$/i, '');
  let artifact = base.endsWith(`-${version}`) ? base.slice(0, -version.length - 1) : base.replace(/-\d[^/]*$/, '');
  const bsn = (m.get('Bundle-SymbolicName') ?? '').split(';')[0]!.trim();
  let group = m.get('Implementation-Vendor-Id') ?? '';
  if (!group && bsn && artifact && bsn.endsWith(`.${artifact}`)) group = bsn.slice(0, -artifact.length - 1);
  if (!artifact && bsn.includes('.')) {
    artifact = bsn.slice(bsn.lastIndexOf('.') + 1);
    group ||= bsn.slice(0, bsn.lastIndexOf('.'));
  }
  if (!group || !artifact || !GROUP.test(group) || !GROUP.test(artifact)) return null;
  return { group, artifact, version };
}

const POM_PROPERTIES = /^META-INF\/maven\/([^/]+)\/([^/]+)\/pom\.properties$/;
export const ARCHIVE_NAME = /\.(jar|war|ear)$/i;

/**
 * Reads a Java archive held in memory (`path` is where it was found, for the report). Never throws: a damaged
 * archive is a gap.
 */
export function readJavaArchive(buf: Buffer, path: string, limits: JavaLimits = JAVA_LIMITS): JavaResult {
  const result: JavaResult = { packages: [], gaps: [], unidentified: [] };
  let budget = limits.maxTotalBytes;
  const visit = (b: Buffer, display: string, inner: string | undefined, depth: number) => {
    let listing: ReturnType<typeof zipEntries>;
    try {
      listing = zipEntries(b, limits.maxEntries);
    } catch (err) {
      result.gaps.push({ inner, reason: `not a readable archive (${(err as Error).message})` });
      return;
    }
    if (listing.truncated) result.gaps.push({ inner, reason: `more than ${limits.maxEntries} entries: the rest was not read` });
    /** an entry's bytes; 'budget' when the outer archive's budget is spent, 'limit' when over `max`, null when damaged */
    const read = (e: ZipEntry, max: number): Buffer | 'budget' | 'limit' | null => {
      const cap = Math.min(max, budget);
      if (cap <= 0) return 'budget';
      try {
        const d = entryData(b, e, cap);
        if (d === null) {
          // what was inflated before the cap counts too: a thousand bombs cost one budget, not a thousand caps
          budget -= cap;
          return cap < max ? 'budget' : 'limit';
        }
        budget -= d.length;
        return d;
      } catch (err) {
        result.gaps.push({ inner: inner ? `${inner}!/${e.name}` : e.name, reason: (err as Error).message.slice(0, 120) });
        return null;
      }
    };
    const overBudget = () => result.gaps.push({ inner, reason: `over the ${limits.maxTotalBytes}-byte budget of the outer archive: the rest was not read` });
    const found: Package[] = [];
    let manifest: Map<string, string> | null = null;
    const nested: ZipEntry[] = [];
    for (const e of listing.entries) {
      const pom = POM_PROPERTIES.exec(e.name);
      if (pom) {
        const d = read(e, MAX_POM);
        if (d === 'budget') {
          overBudget();
          break;
        }
        if (d === 'limit') result.gaps.push({ inner: inner ? `${inner}!/${e.name}` : e.name, reason: `over ${MAX_POM} bytes: not read` });
        if (!Buffer.isBuffer(d)) continue;
        const p = parseProperties(d.toString('utf8'));
        const group = p.get('groupId') || pom[1]!;
        const artifact = p.get('artifactId') || pom[2]!;
        const version = p.get('version');
        if (version && GROUP.test(group) && GROUP.test(artifact)) found.push({ type: 'maven', name: clip(`${group}:${artifact}`), version: clip(version, 128), path: display });
      } else if (e.name === 'META-INF/MANIFEST.MF') {
        const d = read(e, MAX_MANIFEST);
        if (d === 'budget') {
          overBudget();
          break;
        }
        if (Buffer.isBuffer(d)) manifest = parseManifest(d.toString('utf8'));
      } else if (ARCHIVE_NAME.test(e.name) && !e.name.endsWith('/')) nested.push(e);
    }
    if (!found.length && manifest) {
      const c = coordinatesFromManifest(manifest, display.slice(display.lastIndexOf('/') + 1));
      if (c) found.push({ type: 'maven', name: clip(`${c.group}:${c.artifact}`), version: clip(c.version, 128), path: display });
    }
    if (!found.length && !nested.length) result.unidentified.push(display);
    for (const p of found) if (result.packages.length < MAX_PACKAGES) result.packages.push(p);
    for (const e of nested) {
      const name = inner ? `${inner}!/${e.name}` : e.name;
      if (depth + 1 > limits.maxDepth) {
        result.gaps.push({ inner: name, reason: `nested deeper than ${limits.maxDepth} archives: not read` });
        continue;
      }
      const d = read(e, limits.maxNestedBytes);
      if (d === 'budget') result.gaps.push({ inner: name, reason: `over the ${limits.maxTotalBytes}-byte budget of the outer archive: not read` });
      else if (d === 'limit')
        result.gaps.push({
          inner: name,
          reason: `${e.size > limits.maxNestedBytes ? `${e.size} bytes, over` : 'inflates past'} the ${limits.maxNestedBytes}-byte limit for a nested archive: not read`,
        });
      if (!Buffer.isBuffer(d)) continue;
      visit(d, `${display}!/${e.name}`, name, depth + 1);
    }
  };
  visit(buf, path, undefined, 0);
  return result;
}
