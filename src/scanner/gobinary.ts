/**
 * Go build information in executables (`runtime/debug.BuildInfo`, as `go version -m` prints it): the Go version
 * (the standard library's version), the main module and every dependency module with its version, replacements
 * applied. Found by streaming the file for the 16-byte-aligned `\xff Go buildinf:` header (in `.go.buildinfo`),
 * without keeping the binary: at most `MAX_INFO` bytes after the header are kept.
 *
 * Format (Go 1.18+, `src/debug/buildinfo/buildinfo.go`): the header is 32 bytes (magic, pointer size, flags); with
 * flag 2 ("inline strings") two varint-length-prefixed strings follow: the Go version and the module info, whose
 * text sits between two 16-byte sentinels. Older binaries store pointers instead: those are reported, not read.
 */
import type { Package } from './inventory.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MAX_INFO = 1024 * 1024;
const MAX_MODULES = 10_000;

export type GoScanResult = { kind: 'packages'; packages: Package[] } | { kind: 'old-format' } | { kind: 'none' };

/** How much of a file's start is kept to find the ELF program headers; beyond it the whole file is searched. */
const MAX_ELF_HEAD = 64 * 1024;

/**
 * The file ranges `[start, end)` of an ELF file's writable loadable segments, from its header and program headers
 * (which must lie within `head`); null when the header cannot be read that way. `.go.buildinfo` is a writable
 * allocated section (the Go linker makes it so, and an external linker keeps those in writable segments), so the
 * build info lies inside one of these ranges: the rest of a binary (code, read-only data: ~98% of it) need not be
 * searched.
 */
export function elfWritableRanges(head: Buffer): [number, number][] | null | 'more' {
  if (head.length < 52) return 'more';
  const cls = head[4];
  const data = head[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return null;
  const le = data === 1;
  const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o));
  const wide = cls === 2;
  if (wide && head.length < 64) return 'more';
  const phoff = wide ? u64(32) : u32(28);
  const phentsize = u16(wide ? 54 : 42);
  const phnum = u16(wide ? 56 : 44);
  // PN_XNUM (more than 0xfffe headers, the count kept elsewhere) and odd entry sizes: not worth special cases
  if (phnum === 0xffff || phentsize < (wide ? 56 : 32)) return null;
  const end = phoff + phnum * phentsize;
  if (end > MAX_ELF_HEAD) return null;
  if (head.length < end) return 'more';
  const out: [number, number][] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = u32(o);
    const flags = wide ? u32(o + 4) : u32(o + 24);
    const offset = wide ? u64(o + 8) : u32(o + 4);
    const filesz = wide ? u64(o + 32) : u32(o + 16);
    // PT_LOAD with PF_W
    if (type === 1 && flags & 2 && filesz > 0) out.push([offset, offset + filesz]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/**
 * Feed a file's bytes in order; `wanted` turns false once the build info was found, or once it cannot be in what
 * is left (not ELF, or past the last writable segment).
 */
export class GoBuildInfoScanner {
  /** file offset of the next byte pushed */
  private pos = 0;
  /** the file's first bytes, until the program headers are read */
  private head: Buffer[] | null = [];
  private headLen = 0;
  /** where to search; null: everywhere */
  private ranges: [number, number][] | null = null;
  /** the last bytes searched, when the next search continues right after them (a magic split across chunks) */
  private tail: Buffer | null = null;
  private tailEnd = -1;
  private info: Buffer[] | null = null;
  private infoLen = 0;
  done = false;

  constructor(private readonly path: string) {}

  push(chunk: Buffer): void {
    if (this.done) return;
    const at = this.pos;
    this.pos += chunk.length;
    if (this.info) {
      this.collect(chunk);
      return;
    }
    if (this.head) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      const head = this.head.length === 1 ? chunk : Buffer.concat(this.head);
      if (head.length >= 4 && !head.subarray(0, 4).equals(ELF)) {
        this.done = true;
        return;
      }
      const r = head.length >= 4 ? elfWritableRanges(head) : 'more';
      if (r === 'more' && this.headLen < MAX_ELF_HEAD) {
        this.head = [head];
        return;
      }
      this.head = null;
      this.ranges = r === 'more' ? null : r;
      // search what was held, from the file's start
      this.search(head, 0);
      return;
    }
    this.search(chunk, at);
  }

  /** Searches `chunk` (which starts at file offset `at`) where the build info may be. */
  private search(chunk: Buffer, at: number): void {
    const end = at + chunk.length;
    if (!this.ranges) {
      this.find(chunk, at, at, end);
      return;
    }
    for (const [s, e] of this.ranges) {
      if (e <= at) continue;
      if (s >= end) return;
      this.find(chunk, at, Math.max(s, at), Math.min(e, end));
      if (this.done || this.info) return;
    }
    const last = this.ranges[this.ranges.length - 1];
    if (!last || end >= last[1]) this.done = true;
  }

  /**
   * Looks for the 16-byte-aligned magic in file offsets `[from, to)` of `chunk` (which starts at `at`), also across
   * the end of the previous search when it ended at `from`. Once found, the info is kept from the magic on.
   */
  private find(chunk: Buffer, at: number, from: number, to: number): void {
    const part = chunk.subarray(from - at, to - at);
    const t = this.tail;
    if (t && this.tailEnd === from) {
      const joint = Buffer.concat([t, part.subarray(0, MAGIC.length - 1)]);
      const i = aligned(joint, from - t.length);
      if (i >= 0 && i < t.length) {
        this.info = [];
        this.infoLen = 0;
        this.collect(Buffer.from(t.subarray(i)));
        if (!this.done) this.collect(chunk.subarray(from - at));
        return;
      }
    }
    const i = aligned(part, from);
    if (i >= 0) {
      this.info = [];
      this.infoLen = 0;
      this.collect(chunk.subarray(from - at + i));
      return;
    }
    this.tail = Buffer.from(part.subarray(Math.max(0, part.length - MAGIC.length + 1)));
    this.tailEnd = to;
  }

  private collect(chunk: Buffer): void {
    this.info!.push(chunk);
    this.infoLen += chunk.length;
    if (this.infoLen >= MAX_INFO || this.complete()) this.done = true;
  }

  /** Whether the header and both strings after it are all held. */
  private complete(): boolean {
    if (this.infoLen < 34) return false;
    const b = this.info!.length === 1 ? this.info![0]! : Buffer.concat(this.info!);
    this.info = [b];
    if (!(b[15]! & 2)) return true; // the old pointer format: nothing more to read
    let at = 32;
    for (let k = 0; k < 2; k++) {
      const n = varint(b, at);
      if (!n) return b.length - at >= 5; // a varint over 5 bytes: not valid, parsing says so
      at = n.next + n.value;
      if (at > b.length) return false;
    }
    return true;
  }

  /** Whether the build info header was found (the file is a Go binary). */
  get found(): boolean {
    return this.info !== null;
  }

  /** Whether this file is worth streaming further. */
  get wanted(): boolean {
    return !this.done;
  }

  result(): GoScanResult {
    if (!this.info) return { kind: 'none' };
    return parseBuildInfo(Buffer.concat(this.info).subarray(0, MAX_INFO), this.path);
  }
}

/** The first match of the magic at a 16-byte-aligned file offset (`buf` starts at `base`), as an index; -1 if none. */
function aligned(buf: Buffer, base: number): number {
  for (let i = buf.indexOf(MAGIC); i >= 0; i = buf.indexOf(MAGIC, i + 1)) if ((base + i) % 16 === 0) return i;
  return -1;
}

function varint(b: Buffer, at: number): { value: number; next: number } | null {
  let value = 0;
  let shift = 0;
  for (let i = at; i < b.length && i < at + 5; i++) {
    value += (b[i]! & 0x7f) * 2 ** shift;
    if (!(b[i]! & 0x80)) return { value, next: i + 1 };
    shift += 7;
  }
  return null;
}

/** Go version `go1.22.0`, `go1.21rc2`, `go1.20` → the semver OSV's `stdlib` ranges use (`1.22.0`, `1.21.0-rc.2`). */
export function goStdlibVersion(v: string): string | null {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?/.exec(v.trim());
  if (!m) return null;
  return `${m[1]}.${m[2]}.${m[3] ?? '0'}${m[4] ? `-${m[4]}.${m[5]}` : ''}`;
}

/** Parses the build info blob that starts at the magic. */
export function parseBuildInfo(b: Buffer, path: string): GoScanResult {
  if (b.length < 32 || !b.subarray(0, MAGIC.length).equals(MAGIC)) return { kind: 'none' };
  const flags = b[15]!;
  if (!(flags & 2)) return { kind: 'old-format' };
  const strings: string[] = [];
  let at = 32;
  for (let k = 0; k < 2; k++) {
    const n = varint(b, at);
    if (!n || n.value > MAX_INFO || n.next + n.value > b.length) return { kind: 'none' };
    strings.push(b.toString('utf8', n.next, n.next + n.value));
    at = n.next + n.value;
  }
  const [goVersion, modRaw] = strings as [string, string];
  const modinfo = modRaw.length >= 33 ? modRaw.slice(16, -16) : '';
  const packages: Package[] = [];
  const std = goStdlibVersion(goVersion);
  if (std) packages.push({ type: 'golang', name: 'stdlib', version: std, path });
  const version = (v: string) => (v.startsWith('v') ? v.slice(1) : v);
  for (const line of modinfo.split('\n')) {
    const f = line.split('\t');
    if ((f[0] === 'mod' || f[0] === 'dep') && f[1] && f[2]) {
      if (f[2] === '(devel)') continue; // a main module built from a checkout has no version to match
      packages.push({ type: 'golang', name: f[1].slice(0, 256), version: version(f[2]).slice(0, 128), path });
    } else if (f[0] === '=>' && f[1] && f[2] && packages.length > (std ? 1 : 0)) {
      // the previous dependency is replaced: the replacement is what was compiled in
      const last = packages[packages.length - 1]!;
      if (last.name !== 'stdlib') packages[packages.length - 1] = { ...last, name: f[1].slice(0, 256), version: version(f[2]).slice(0, 128) };
    }
    if (packages.length >= MAX_MODULES) break;
  }
  return { kind: 'packages', packages };
}
