/**
 * Rust binaries built with cargo-auditable (https://github.com/rust-secure-code/cargo-auditable): the crates
 * compiled in, from the `.dep-v0` section, a zlib-compressed JSON document `{"packages":[{"name", "version",
 * "source", ...}]}`.
 *
 * The binary is streamed once and never kept. The ELF header and program headers (at the start of the file) say
 * where the loaded segments end; `.dep-v0` is not loaded, so it lies after them, among the other non-loaded sections
 * (`.comment`, symbols, debug information) that precede the section header table. Only that region is searched,
 * for a zlib stream whose first bytes inflate to `{"packages":`; that stream is then kept (at most
 * `MAX_COMPRESSED` bytes) and inflated (at most `MAX_JSON` bytes).
 */
import zlib from 'node:zlib';
import type { Package } from './inventory.js';

const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MAX_HEADERS = 64 * 1024;
const MAX_COMPRESSED = 4 * 1024 * 1024;
const MAX_JSON = 32 * 1024 * 1024;
const MAX_PACKAGES = 20_000;
/** bytes after a candidate zlib header needed to test it */
const PROBE = 512;
const PREFIX = Buffer.from('{"packages":');

export type CargoScanResult = { kind: 'packages'; packages: Package[] } | { kind: 'unreadable'; reason: string } | { kind: 'none' };

/** Feed a file's bytes in order; `wanted` turns false once the dependency list was found, or cannot be. */
export class CargoAuditableScanner {
  private pos = 0;
  private head: Buffer[] = [];
  private headLen = 0;
  /** where the searched region starts and ends (file offsets), once the headers were read */
  private from = -1;
  private to = Number.POSITIVE_INFINITY;
  /** the unsearched tail of the region seen so far, and its file offset */
  private held = Buffer.alloc(0);
  private heldAt = 0;
  private capture: Buffer[] | null = null;
  private captureLen = 0;
  private done = false;

  constructor(private readonly path: string) {}

  get wanted(): boolean {
    return !this.done;
  }

  push(chunk: Buffer): void {
    if (this.done) return;
    const at = this.pos;
    this.pos += chunk.length;
    if (this.from < 0) {
      // The headers lie in the first MAX_HEADERS bytes: only those are ever joined. The chunks are the tar reader's
      // slices of 1 MiB decompressed chunks: copying whole chunks here (once per executable) cost ~10% of the CPU of
      // walking a Debian 12 layer (median 440 → 390 ms), whose /usr/bin is all ELF.
      this.head.push(chunk);
      this.headLen += chunk.length;
      const h = this.head.length === 1 ? chunk : Buffer.concat(this.head, Math.min(this.headLen, MAX_HEADERS + 1));
      const r = this.headers(h);
      if (r === 'more') {
        if (this.headLen > MAX_HEADERS) this.done = true;
        return;
      }
      if (r === 'no') {
        this.done = true;
        return;
      }
      const held = this.head;
      this.head = [];
      // the bytes already seen that belong to the region, chunk by chunk as they came
      let off = 0;
      for (const c of held) {
        const end = off + c.length;
        if (end > this.from && !this.done) {
          const s = Math.max(0, this.from - off);
          this.region(c.subarray(s), off + s);
        }
        off = end;
      }
      return;
    }
    if (this.pos <= this.from) return;
    const start = Math.max(0, this.from - at);
    this.region(chunk.subarray(start), at + start);
  }

  /** Reads the ELF header and program headers: 'more' until they are all in `h`. */
  private headers(h: Buffer): 'more' | 'no' | 'ok' {
    if (h.length < 64) return h.length >= 4 && !h.subarray(0, 4).equals(ELF) ? 'no' : 'more';
    if (!h.subarray(0, 4).equals(ELF)) return 'no';
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    if ((h[4] !== 1 && h[4] !== 2) || (h[5] !== 1 && h[5] !== 2)) return 'no';
    const u16 = (o: number) => (le ? h.readUInt16LE(o) : h.readUInt16BE(o));
    const u32 = (o: number) => (le ? h.readUInt32LE(o) : h.readUInt32BE(o));
    const u64 = (o: number) => Number(le ? h.readBigUInt64LE(o) : h.readBigUInt64BE(o));
    const phoff = is64 ? u64(32) : u32(28);
    const shoff = is64 ? u64(40) : u32(32);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    const end = phoff + phentsize * phnum;
    if (phnum && (phentsize < (is64 ? 56 : 32) || end > MAX_HEADERS)) return 'no';
    if (h.length < end) return 'more';
    let loaded = is64 ? 64 : 52;
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      if (u32(p) !== 1) continue; // PT_LOAD
      const off = is64 ? u64(p + 8) : u32(p + 4);
      const filesz = is64 ? u64(p + 32) : u32(p + 16);
      loaded = Math.max(loaded, off + filesz);
    }
    this.from = loaded;
    if (shoff > loaded) this.to = shoff;
    this.heldAt = loaded;
    return 'ok';
  }

  /** Bytes of the searched region, `at` being the file offset of `b[0]`. */
  private region(b: Buffer, at: number, end = false): void {
    if (at >= this.to && !end) {
      this.finish();
      return;
    }
    if (at + b.length > this.to) b = b.subarray(0, this.to - at);
    if (this.capture) {
      this.keep(b);
      if (at + b.length >= this.to) this.finish();
      return;
    }
    const win = this.held.length ? Buffer.concat([this.held, b]) : b;
    const winAt = this.held.length ? this.heldAt : at;
    const last = end || at + b.length >= this.to;
    // candidates with enough bytes after them to probe (all of them at the end of the region)
    const limit = last ? win.length - 2 : win.length - PROBE;
    let i = win.indexOf(0x78);
    while (i >= 0 && i <= limit) {
      const f = win[i + 1]!;
      if ((f === 0x01 || f === 0x5e || f === 0x9c || f === 0xda) && plausibleDeflate(win, i + 2) && this.probe(win.subarray(i, i + PROBE))) {
        this.capture = [];
        this.captureLen = 0;
        this.keep(win.subarray(i));
        this.held = Buffer.alloc(0);
        if (last) this.finish();
        return;
      }
      i = win.indexOf(0x78, i + 1);
    }
    const keepFrom = Math.max(0, limit + 1);
    this.held = Buffer.from(win.subarray(keepFrom));
    this.heldAt = winAt + keepFrom;
    if (last) this.finish();
  }

  /**
   * Whether a zlib stream starts at `b[0]` and its first bytes inflate to `{"packages":`. Tried on growing prefixes,
   * so that a damaged stream (or the next section's bytes after a short one) still shows its start.
   */
  private probe(b: Buffer): boolean {
    for (const n of [48, 160, PROBE]) {
      let out: Buffer;
      try {
        out = zlib.inflateSync(b.subarray(0, n), { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: 64 * 1024 });
      } catch {
        return false;
      }
      if (out.length >= PREFIX.length) return out.subarray(0, PREFIX.length).equals(PREFIX);
      if (n >= b.length) return false;
    }
    return false;
  }

  private keep(b: Buffer): void {
    const room = MAX_COMPRESSED - this.captureLen;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.capture!.push(Buffer.from(part));
    this.captureLen += part.length;
    if (this.captureLen >= MAX_COMPRESSED) this.finish();
  }

  private finish(): void {
    this.done = true;
  }

  /** Call at the end of the file. */
  result(): CargoScanResult {
    // the file ended inside the region (no section header table after it): probe what is left
    if (!this.done && !this.capture && this.from >= 0 && this.held.length) this.region(Buffer.alloc(0), this.heldAt + this.held.length, true);
    if (!this.capture) return { kind: 'none' };
    let json: Buffer;
    try {
      // the stream ends where zlib says; what follows it (the next section) is ignored
      json = zlib.inflateSync(Buffer.concat(this.capture), { maxOutputLength: MAX_JSON });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { kind: 'unreadable', reason: code === 'ERR_BUFFER_TOO_LARGE' ? `the cargo-auditable dependency list inflates past ${MAX_JSON} bytes` : 'the cargo-auditable dependency list is damaged' };
    }
    return parseAuditData(json.toString('utf8'), this.path);
  }
}

/** Code-length code order of a dynamic deflate block (RFC 1951 §3.2.7). */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * A cheap test of the first deflate block header at `b[at]`, before zlib is asked (a failing zlib call costs about a
 * millisecond, and symbol tables are full of `0x78 0x01`): a stored block must carry a length and its complement and
 * start with `{"packages":`; a fixed-Huffman block must start with the code of `{`; a dynamic block must declare
 * counts in range and a complete code-length code, as zlib requires.
 */
export function plausibleDeflate(b: Buffer, at: number): boolean {
  if (at >= b.length) return true; // not enough bytes to tell: let zlib decide
  let pos = at * 8;
  const end = b.length * 8;
  const bits = (n: number): number => {
    let v = 0;
    for (let k = 0; k < n; k++, pos++) {
      if (pos >= end) return -1;
      v |= ((b[pos >> 3]! >> (pos & 7)) & 1) << k;
    }
    return v;
  };
  bits(1); // BFINAL
  const type = bits(2);
  if (type === 3) return false;
  if (type === 0) {
    const o = at + 1;
    if (o + 4 + PREFIX.length > b.length) return true;
    const len = b.readUInt16LE(o);
    return (len ^ b.readUInt16LE(o + 2)) === 0xffff && b.subarray(o + 4, o + 4 + PREFIX.length).equals(PREFIX);
  }
  if (type === 1) {
    // fixed literal codes 0-143 are 8 bits, 0x30 + literal, stored most significant bit first
    let code = 0;
    for (let k = 0; k < 8; k++) {
      const bit = bits(1);
      if (bit < 0) return true;
      code = (code << 1) | bit;
    }
    return code === 0x30 + 0x7b;
  }
  const hlit = bits(5);
  const hdist = bits(5);
  const hclen = bits(4);
  if (hclen < 0) return true;
  if (hlit > 29 || hdist > 29) return false;
  const lens = new Array<number>(19).fill(0);
  for (let k = 0; k < hclen + 4; k++) {
    const l = bits(3);
    if (l < 0) return true;
    lens[CLEN_ORDER[k]!] = l;
  }
  // Kraft sum in units of 2^-7: a complete code sums to exactly 128
  let sum = 0;
  for (const l of lens) if (l) sum += 1 << (7 - l);
  return sum === 128;
}

/** The crates.io packages of a cargo-auditable JSON document (local, git and other-registry crates are skipped). */
export function parseAuditData(text: string, path: string): CargoScanResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { kind: 'unreadable', reason: 'the cargo-auditable dependency list is not JSON' };
  }
  const list = (doc as { packages?: unknown } | null)?.packages;
  if (!Array.isArray(list)) return { kind: 'unreadable', reason: 'the cargo-auditable dependency list has no packages' };
  const packages: Package[] = [];
  const seen = new Set<string>();
  for (const p of list) {
    if (!p || typeof p !== 'object') continue;
    const { name, version, source } = p as { name?: unknown; version?: unknown; source?: unknown };
    if (typeof name !== 'string' || typeof version !== 'string' || !name || !version || name.length > 128 || version.length > 128) continue;
    if (source !== 'crates.io') continue;
    const key = `${name}@${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    packages.push({ type: 'cargo', name, version, path });
    if (packages.length >= MAX_PACKAGES) break;
  }
  return { kind: 'packages', packages };
}
