/**
 * rpm package databases, in the three formats distributions ship: SQLite (`rpmdb.sqlite`: RHEL/Rocky/Alma 9,
 * Fedora 33+), NDB (`Packages.db`: SUSE 15.3+) and Berkeley DB hash (`Packages`: RHEL/CentOS 7–8, older SUSE).
 * Each stores one rpm header blob per installed package; the header gives name, epoch, version, release, arch and
 * the source rpm.
 *
 * Input is hostile: the database is a temporary copy read from a layer, every offset and length is checked against
 * the file, and the package count and blob sizes are bounded. Formats: rpm's `lib/header.c` (header blobs),
 * `lib/backend/ndb/rpmpkg.c` (NDB), Berkeley DB's `db_page.h`/`hash.h` (hash pages and overflow chains).
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { Package } from './inventory.js';

const MAX_PACKAGES = 100_000;
const MAX_BLOB = 64 * 1024 * 1024;

export interface RpmHeader {
  name: string;
  epoch: number | null;
  version: string;
  release: string;
  arch: string | null;
  sourceRpm: string | null;
  license: string | null;
}

const TAG = { NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, LICENSE: 1014, ARCH: 1022, SOURCERPM: 1044 } as const;
const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_I18NSTRING = 9;

/**
 * Parses an rpm header blob as stored in the database (no lead, no header magic): index count and data length
 * (big-endian int32), the index entries (tag, type, offset, count), then the data store. Null when the blob is
 * malformed or lacks a name, version or release.
 */
export function parseRpmHeader(blob: Buffer): RpmHeader | null {
  if (blob.length < 8) return null;
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  const dataStart = 8 + il * 16;
  if (il === 0 || il > 100_000 || dl > MAX_BLOB || dataStart + dl > blob.length) return null;
  const data = blob.subarray(dataStart, dataStart + dl);
  const str = (off: number): string | null => {
    if (off < 0 || off >= data.length) return null;
    const end = data.indexOf(0, off);
    if (end === -1) return null;
    return data.toString('utf8', off, Math.min(end, off + 1024));
  };
  const out: Partial<Record<number, string | number>> = {};
  for (let i = 0; i < il; i++) {
    const e = 8 + i * 16;
    const tag = blob.readUInt32BE(e);
    const type = blob.readUInt32BE(e + 4);
    const off = blob.readInt32BE(e + 8);
    const count = blob.readUInt32BE(e + 12);
    if (tag === TAG.EPOCH) {
      if (type === TYPE_INT32 && count >= 1 && off >= 0 && off + 4 <= data.length) out[tag] = data.readUInt32BE(off);
    } else if (tag === TAG.NAME || tag === TAG.VERSION || tag === TAG.RELEASE || tag === TAG.ARCH || tag === TAG.SOURCERPM || tag === TAG.LICENSE) {
      if (type === TYPE_STRING || type === TYPE_I18NSTRING) {
        const s = str(off);
        if (s !== null) out[tag] = s;
      }
    }
  }
  const name = out[TAG.NAME];
  const version = out[TAG.VERSION];
  const release = out[TAG.RELEASE];
  if (typeof name !== 'string' || typeof version !== 'string' || typeof release !== 'string' || !name || !version) return null;
  const s = (t: number) => (typeof out[t] === 'string' ? (out[t] as string) : null);
  return { name, epoch: typeof out[TAG.EPOCH] === 'number' ? (out[TAG.EPOCH] as number) : null, version, release, arch: s(TAG.ARCH), sourceRpm: s(TAG.SOURCERPM), license: s(TAG.LICENSE) };
}

/** `name-version-release.src.rpm` → name and version-release (the source package advisories may name). */
function splitSourceRpm(s: string): { name: string; version: string } | null {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(s);
  return m ? { name: m[1]!, version: `${m[2]}-${m[3]}` } : null;
}

/** An installed package as Berth records it: version is `[epoch:]version-release`, as OSV rpm ranges are written. */
export function rpmPackage(h: RpmHeader, path: string): Package {
  const evr = `${h.epoch !== null ? `${h.epoch}:` : ''}${h.version}-${h.release}`;
  const src = h.sourceRpm ? splitSourceRpm(h.sourceRpm) : null;
  return {
    type: 'rpm',
    name: h.name.slice(0, 256),
    version: evr.slice(0, 256),
    sourceName: src?.name.slice(0, 256),
    sourceVersion: src ? `${h.epoch !== null ? `${h.epoch}:` : ''}${src.version}`.slice(0, 256) : undefined,
    arch: h.arch?.slice(0, 32) ?? undefined,
    license: h.license?.slice(0, 256) ?? undefined,
    path,
  };
}

function collect(blobs: Iterable<Buffer>, path: string): Package[] {
  const out: Package[] = [];
  for (const b of blobs) {
    const h = parseRpmHeader(b);
    // gpg-pubkey "packages" are imported signing keys, not software
    if (h && h.name !== 'gpg-pubkey') out.push(rpmPackage(h, path));
    if (out.length >= MAX_PACKAGES) break;
  }
  return out;
}

/** `rpmdb.sqlite`: table `Packages(hnum, blob)`. Opened read-only; a malformed file throws (the caller records a gap). */
export function readRpmSqlite(file: string, path: string): Package[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('query_only = 1');
    const rows = db.prepare('SELECT blob FROM Packages').iterate() as Iterable<{ blob: unknown }>;
    function* blobs() {
      for (const r of rows) if (Buffer.isBuffer(r.blob) && r.blob.length <= MAX_BLOB) yield r.blob;
    }
    return collect(blobs(), path);
  } finally {
    db.close();
  }
}

function readAt(fd: number, pos: number, len: number, size: number): Buffer {
  if (pos < 0 || len < 0 || pos + len > size) throw new Error(`read past the end of the database (${pos}+${len} > ${size})`);
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, b, got, len - got, pos + got);
    if (n === 0) throw new Error('short read');
    got += n;
  }
  return b;
}

const magic = (s: string) => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | ((s.charCodeAt(3) << 24) >>> 0);
const NDB_HEADER_MAGIC = magic('RpmP') >>> 0;
const NDB_SLOT_MAGIC = magic('Slot') >>> 0;
const NDB_BLOB_MAGIC = magic('BlbS') >>> 0;
const NDB_PAGE = 4096;

/**
 * NDB (`Packages.db`): a little-endian 32-byte header (magic `RpmP`, version 0, generation, slot page count, ...),
 * then slots of
 * (magic `Slot`, package index, block offset, block count) in the slot pages, and per package a blob
 * (magic `BlbS`, package index, checksum, length, then the header) at `block offset × 16`.
 */
export function readRpmNdb(file: string, path: string): Package[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const head = readAt(fd, 0, 16, size);
    if (head.readUInt32LE(0) !== NDB_HEADER_MAGIC) throw new Error('not an rpm NDB database (bad magic)');
    if (head.readUInt32LE(4) !== 0) throw new Error(`unsupported NDB version ${head.readUInt32LE(4)}`);
    const slotPages = head.readUInt32LE(12);
    if (slotPages === 0 || slotPages * NDB_PAGE > size) throw new Error('NDB slot pages past the end of the file');
    // the first two slot-sized places of page 0 hold the header (with the next free slot and reserved words)
    const slots = readAt(fd, 32, slotPages * NDB_PAGE - 32, size);
    function* blobs() {
      for (let o = 0; o + 16 <= slots.length; o += 16) {
        if (slots.readUInt32LE(o) !== NDB_SLOT_MAGIC) throw new Error(`bad NDB slot at ${32 + o}`);
        const pkgIndex = slots.readUInt32LE(o + 4);
        if (pkgIndex === 0) continue;
        const at = slots.readUInt32LE(o + 8) * 16;
        const bh = readAt(fd, at, 16, size);
        if (bh.readUInt32LE(0) !== NDB_BLOB_MAGIC || bh.readUInt32LE(4) !== pkgIndex) throw new Error(`bad NDB blob for package ${pkgIndex}`);
        const len = bh.readUInt32LE(12);
        if (len > MAX_BLOB) throw new Error(`NDB blob of ${len} bytes`);
        yield readAt(fd, at + 16, len, size);
      }
    }
    return collect(blobs(), path);
  } finally {
    fs.closeSync(fd);
  }
}

const BDB_HASH_MAGIC = 0x061561;
const P_HASH_UNSORTED = 2;
const P_OVERFLOW = 7;
const P_HASH = 13;
const H_OFFPAGE = 3;
const PAGE_HEADER = 26;

/**
 * Berkeley DB hash (`Packages`): a metadata page (magic 0x061561 at 12, page size at 20, last page at 32, in the
 * writer's byte order), hash pages whose entries are key/value item offsets, and values stored off-page
 * (`H_OFFPAGE`: first overflow page and total length) in chains of overflow pages. rpm's header blobs are always
 * larger than an in-page item, so only off-page values are read.
 */
export function readRpmBdb(file: string, path: string): Package[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const meta = readAt(fd, 0, 72, size);
    const le = meta.readUInt32LE(12) === BDB_HASH_MAGIC;
    if (!le && meta.readUInt32BE(12) !== BDB_HASH_MAGIC) throw new Error('not a Berkeley DB hash database (bad magic)');
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const pageSize = u32(meta, 20);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new Error(`bad page size ${pageSize}`);
    const lastPage = u32(meta, 32);
    if ((lastPage + 1) * pageSize > size + pageSize) throw new Error('last page past the end of the file');
    const page = (n: number) => readAt(fd, n * pageSize, pageSize, size);
    function* blobs() {
      for (let p = 1; p <= lastPage; p++) {
        if ((p + 1) * pageSize > size) break;
        const pg = page(p);
        const type = pg[25];
        if (type !== P_HASH && type !== P_HASH_UNSORTED) continue;
        const entries = u16(pg, 20);
        // items alternate key, value; each entry is a 2-byte offset into the page
        for (let i = 1; i < entries && PAGE_HEADER + 2 * i + 2 <= pageSize; i += 2) {
          const off = u16(pg, PAGE_HEADER + 2 * i);
          if (off + 12 > pageSize || pg[off] !== H_OFFPAGE) continue;
          let next = u32(pg, off + 4);
          const total = u32(pg, off + 8);
          if (total > MAX_BLOB) throw new Error(`value of ${total} bytes`);
          const parts: Buffer[] = [];
          let have = 0;
          const seen = new Set<number>();
          while (next !== 0 && have < total) {
            if (seen.has(next) || next > lastPage) throw new Error('overflow chain loops or leaves the file');
            seen.add(next);
            const op = page(next);
            if (op[25] !== P_OVERFLOW) throw new Error(`page ${next} is not an overflow page`);
            // on overflow pages the "free area offset" field holds the length of the data on the page
            const len = Math.min(u16(op, 22), pageSize - PAGE_HEADER);
            parts.push(op.subarray(PAGE_HEADER, PAGE_HEADER + len));
            have += len;
            next = u32(op, 16);
          }
          yield Buffer.concat(parts).subarray(0, total);
        }
      }
    }
    return collect(blobs(), path);
  } finally {
    fs.closeSync(fd);
  }
}

export type RpmDbFormat = 'sqlite' | 'ndb' | 'bdb';

/** The format at a path distributions use, by file name. */
export function rpmDbFormat(path: string): RpmDbFormat {
  if (path.endsWith('rpmdb.sqlite')) return 'sqlite';
  if (path.endsWith('Packages.db')) return 'ndb';
  return 'bdb';
}

/** Reads the packages of an rpm database file (a temporary copy) in the format its path names. Throws when malformed. */
export function readRpmDb(file: string, path: string): Package[] {
  const f = rpmDbFormat(path);
  return f === 'sqlite' ? readRpmSqlite(file, path) : f === 'ndb' ? readRpmNdb(file, path) : readRpmBdb(file, path);
}
