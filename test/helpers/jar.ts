import zlib from 'node:zlib';

/** One zip entry: content (deflated unless `store`), or a directory when the name ends with `/`. */
export type ZipInput = string | Buffer | { data: string | Buffer; store?: boolean } | { deflated: Buffer; size: number };

export interface ZipOptions {
  /** write ZIP64 records (end of central directory, and sizes and offsets in extra fields), as big archives have */
  zip64?: boolean;
  /** bytes before the archive (a launcher script, as in self-executing jars) */
  prefix?: Buffer;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (b: Buffer) => {
  let c = 0xffffffff;
  for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

/** A ZIP64 extended information extra field (header id 1): `values` as 8-byte little-endian integers, in order. */
function zip64Extra(values: number[]): Buffer {
  const b = Buffer.alloc(4 + 8 * values.length);
  b.writeUInt16LE(1, 0);
  b.writeUInt16LE(8 * values.length, 2);
  for (const [i, v] of values.entries()) b.writeBigUInt64LE(BigInt(v), 4 + 8 * i);
  return b;
}

/** A zip archive (a jar, war or ear) as the `jar` tool writes one (deflate, local headers, central directory), built in memory. */
export function zip(entries: Record<string, ZipInput>, opts: ZipOptions = {}): Buffer {
  const parts: Buffer[] = opts.prefix ? [opts.prefix] : [];
  let offset = 0; // offsets are relative to the archive start, as `jar` writes them after a prefix
  const central: Buffer[] = [];
  const z64 = !!opts.zip64;
  for (const [name, input] of Object.entries(entries)) {
    // already-deflated data (a bomb, say) keeps its declared size and no checksum
    const pre = typeof input === 'object' && !Buffer.isBuffer(input) && 'deflated' in input ? input : null;
    const raw = pre ? Buffer.alloc(0) : typeof input === 'string' || Buffer.isBuffer(input) ? Buffer.from(input) : Buffer.from((input as { data: string | Buffer }).data);
    const store = !pre && (name.endsWith('/') || (typeof input === 'object' && !Buffer.isBuffer(input) && 'store' in input && !!input.store));
    const data = pre ? pre.deflated : store ? raw : zlib.deflateRawSync(raw);
    const size = pre ? pre.size : raw.length;
    const nameBuf = Buffer.from(name);
    const crc = pre ? 0 : crc32(raw);
    // With ZIP64 the 32-bit sizes and offset are 0xffffffff and the real ones sit in the extra field.
    const extra = z64 ? zip64Extra([size, data.length]) : Buffer.alloc(0);
    // The local header and the central directory record share their fields from "version needed" on (APPNOTE 4.3.7,
    // 4.3.12); `at` is where that run starts in each.
    const entryFields = (h: Buffer, at: number, extraLength: number) => {
      h.writeUInt16LE(z64 ? 45 : 20, at);
      h.writeUInt16LE(0x0800, at + 2);
      h.writeUInt16LE(store ? 0 : 8, at + 4);
      h.writeUInt32LE(crc, at + 10);
      h.writeUInt32LE(z64 ? 0xffffffff : data.length, at + 14);
      h.writeUInt32LE(z64 ? 0xffffffff : size, at + 18);
      h.writeUInt16LE(nameBuf.length, at + 22);
      h.writeUInt16LE(extraLength, at + 24);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    entryFields(local, 4, extra.length);
    parts.push(local, nameBuf, extra, data);
    const cextra = z64 ? zip64Extra([size, data.length, offset]) : Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(z64 ? 45 : 20, 4);
    entryFields(c, 6, cextra.length);
    c.writeUInt32LE(z64 ? 0xffffffff : offset, 42);
    central.push(c, nameBuf, cextra);
    offset += 30 + nameBuf.length + extra.length + data.length;
  }
  const cd = Buffer.concat(central);
  const count = Object.keys(entries).length;
  const tail: Buffer[] = [cd];
  if (z64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(count), 24);
    rec.writeBigUInt64LE(BigInt(count), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(z64 ? 0xffff : count, 8);
  eocd.writeUInt16LE(z64 ? 0xffff : count, 10);
  eocd.writeUInt32LE(z64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(z64 ? 0xffffffff : offset, 16);
  tail.push(eocd);
  return Buffer.concat([...parts, ...tail]);
}
