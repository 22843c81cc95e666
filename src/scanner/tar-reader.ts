/**
 * A push parser for tar streams (ustar, GNU and pax), built for reading container layers once at gunzip speed: the
 * caller feeds decompressed chunks as they come, the parser calls `onEntry` for each entry and hands the entry's
 * bytes to the sink it returns, as slices of the caller's chunks (no copies, no per-entry streams). An entry
 * without a sink is skipped without touching its bytes.
 *
 * What an entry is follows Go's `archive/tar`, the reader containerd and Docker extract layers with, so Berth sees
 * the files a runtime would: header-only types (links, directories, devices, fifos) carry no data whatever their
 * size field says, pax `path`/`linkpath`/`size` and GNU long names apply to the next entry, base-256 sizes are read,
 * and both the unsigned and the signed header checksum are accepted. Special headers are capped at 1 MiB, as Go does.
 */

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file' | 'other';

export interface TarEntry {
  /** the name as stored (after pax and GNU long names), not normalised */
  name: string;
  type: TarEntryType;
  /** data bytes that follow the header */
  size: number;
  mode: number;
  linkname: string;
}

/**
 * Receives one entry's data in order. `write` may return a promise to hold the stream (backpressure, e.g. a write to
 * a temporary file); `end` runs once all data is delivered, and may return a promise too.
 */
export interface EntrySink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
  /** the stream failed before this entry ended: release what it holds */
  abort?(): void;
}

export class TarError extends Error {}

const BLOCK = 512;
const MAX_SPECIAL = 1024 * 1024;

const State = { Header: 0, Special: 1, Data: 2, Pad: 3 } as const;
type State = (typeof State)[keyof typeof State];

/** Types whose size field does not announce data (Go's `isHeaderOnlyType`). */
function typeOf(flag: number): TarEntryType {
  switch (flag) {
    case 0:
    case 0x30:
      return 'file';
    case 0x31:
      return 'link';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'character-device';
    case 0x34:
      return 'block-device';
    case 0x35:
      return 'directory';
    case 0x36:
      return 'fifo';
    case 0x37:
      return 'contiguous-file';
  }
  return 'other';
}

const HEADER_ONLY = new Set<TarEntryType>(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);

/** A numeric header field: octal (NUL/space padded), or GNU base-256 when the top bit of the first byte is set. */
function readNumber(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256: the first byte's low 7 bits are the top bits; a negative number (0xff) is never valid here
    if (b[off] === 0xff) return -1;
    let v = b[off]! & 0x7f;
    for (let i = off + 1; i < off + len; i++) {
      v = v * 256 + b[i]!;
      if (v > Number.MAX_SAFE_INTEGER) return -1;
    }
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return -1;
    v = v * 8 + (c - 0x30);
    digits++;
  }
  return digits ? v : 0;
}

/** Bytes up to the first NUL, as UTF-8. */
function readString(b: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}

function checksumOk(b: Buffer, off: number): boolean {
  const stored = readNumber(b, off + 148, 8);
  if (stored < 0) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = off; i < off + BLOCK; i++) {
    const c = i >= off + 148 && i < off + 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(b: Buffer, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Pax extended header records: `"<len> <key>=<value>\n"`. Unparsable records end the list, as tar-stream does. */
function parsePax(b: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < b.length) {
    let sp = at;
    while (sp < b.length && b[sp] !== 0x20) sp++;
    const len = Number.parseInt(b.toString('latin1', at, sp), 10);
    if (!(len > 0) || at + len > b.length) break;
    const rec = b.toString('utf8', sp + 1, at + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

/**
 * Feed with `push(chunk)` (await it when it returns a promise), then call `end()`: it throws when the stream stopped
 * inside an entry or a header. Errors (a bad checksum, an oversized special header) are thrown as `TarError` from
 * `push`; errors thrown by the caller's callbacks pass through unchanged.
 */
export class TarReader {
  private state: State = State.Header;
  /** a header (or special header) not yet complete across chunks */
  private held: Buffer | null = null;
  private heldLen = 0;
  /** data bytes left in the current entry (or special header) */
  private left = 0;
  private pad = 0;
  private sink: EntrySink | null = null;
  private special: { kind: 'pax' | 'gnu-name' | 'gnu-link' | 'skip'; buf: Buffer; at: number } | null = null;
  private pax: Map<string, string> | null = null;
  private longName: string | null = null;
  private longLink: string | null = null;
  /** entries seen (special headers not counted) */
  entries = 0;

  constructor(private readonly onEntry: (entry: TarEntry) => EntrySink | null) {}

  push(chunk: Buffer): void | Promise<void> {
    return this.run(chunk, 0);
  }

  private run(chunk: Buffer, from: number): void | Promise<void> {
    let at = from;
    const n = chunk.length;
    while (at < n) {
      switch (this.state) {
        case State.Header: {
          if (this.held === null && n - at >= BLOCK) {
            this.header(chunk, at);
            at += BLOCK;
          } else {
            if (this.held === null) {
              this.held = Buffer.allocUnsafe(BLOCK);
              this.heldLen = 0;
            }
            const take = Math.min(BLOCK - this.heldLen, n - at);
            chunk.copy(this.held, this.heldLen, at, at + take);
            this.heldLen += take;
            at += take;
            if (this.heldLen === BLOCK) {
              const h = this.held;
              this.held = null;
              this.header(h, 0);
            }
          }
          // an entry without data ends at once
          if ((this.state as State) === State.Data && this.left === 0) {
            const r = this.finishEntry();
            if (r) return r.then(() => this.run(chunk, at));
          }
          break;
        }
        case State.Special: {
          const s = this.special!;
          const take = Math.min(this.left, n - at);
          if (s.kind !== 'skip') chunk.copy(s.buf, s.at, at, at + take);
          s.at += take;
          this.left -= take;
          at += take;
          if (this.left === 0) this.finishSpecial();
          break;
        }
        case State.Data: {
          const take = Math.min(this.left, n - at);
          this.left -= take;
          const sink = this.sink;
          const r = sink ? sink.write(take === n && at === 0 ? chunk : chunk.subarray(at, at + take)) : undefined;
          at += take;
          if (r) {
            return r.then(() => {
              if (this.left === 0) {
                const e = this.finishEntry();
                if (e) return e.then(() => this.run(chunk, at));
              }
              return this.run(chunk, at);
            });
          }
          if (this.left === 0) {
            const e = this.finishEntry();
            if (e) return e.then(() => this.run(chunk, at));
          }
          break;
        }
        case State.Pad: {
          const take = Math.min(this.pad, n - at);
          this.pad -= take;
          at += take;
          if (this.pad === 0) this.state = State.Header;
          break;
        }
      }
    }
  }

  /** The stream failed: the entry being read, if any, is told to release what it holds. */
  abort(): void {
    const sink = this.sink;
    this.sink = null;
    sink?.abort?.();
  }

  /** Whether the stream may end here: between entries, with no partial header held. */
  end(): void {
    if (this.state !== State.Header || this.held !== null) throw new TarError('Unexpected end of data');
  }

  private header(b: Buffer, off: number): void {
    if (isZeroBlock(b, off)) return; // end-of-archive blocks (and the record padding after them)
    if (!checksumOk(b, off)) throw new TarError('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
    const flag = b[off + 156]!;
    let size = readNumber(b, off + 124, 12);
    if (size < 0) throw new TarError('Invalid tar header: bad size field');
    // special headers: their data describes the next entry
    if (flag === 0x78 /* x */ || flag === 0x67 /* g */ || flag === 0x4c /* L */ || flag === 0x4b /* K */) {
      if (size > MAX_SPECIAL) throw new TarError(`tar ${String.fromCharCode(flag)} header of ${size} bytes, over the ${MAX_SPECIAL}-byte limit`);
      // a global pax header applies to the whole archive; the fields Berth uses (path, size) only make sense per entry
      const kind = flag === 0x78 ? 'pax' : flag === 0x4c ? 'gnu-name' : flag === 0x4b ? 'gnu-link' : 'skip';
      this.special = { kind, buf: kind === 'skip' ? Buffer.alloc(0) : Buffer.allocUnsafe(size), at: 0 };
      this.left = size;
      this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = State.Special;
      if (size === 0) this.finishSpecial();
      return;
    }
    let name = readString(b, off, 100);
    const magicUstar = b[off + 257] === 0x75 && b[off + 258] === 0x73 && b[off + 259] === 0x74 && b[off + 260] === 0x61 && b[off + 261] === 0x72;
    // POSIX ustar ("ustar\0"): a prefix field extends the name (131 bytes in star's variant, 155 otherwise)
    if (magicUstar && b[off + 262] === 0 && b[off + 345] !== 0) {
      const star = b[off + 508] === 0x74 && b[off + 509] === 0x61 && b[off + 510] === 0x72 && b[off + 511] === 0;
      name = `${readString(b, off + 345, star ? 131 : 155)}/${name}`;
    }
    let type = typeOf(flag);
    let linkname = readString(b, off + 157, 100);
    if (this.longName !== null) name = this.longName;
    if (this.longLink !== null) linkname = this.longLink;
    const pax = this.pax;
    if (pax) {
      const p = pax.get('path');
      if (p !== undefined) name = p;
      const l = pax.get('linkpath');
      if (l !== undefined) linkname = l;
      const s = pax.get('size');
      if (s !== undefined) {
        if (!/^\d+$/.test(s) || Number(s) > Number.MAX_SAFE_INTEGER) throw new TarError('Invalid pax size');
        size = Number(s);
      }
    }
    this.pax = null;
    this.longName = null;
    this.longLink = null;
    if (type === 'file' && flag === 0 && name.endsWith('/')) type = 'directory';
    if (HEADER_ONLY.has(type)) size = 0;
    const mode = readNumber(b, off + 100, 8);
    this.entries++;
    const entry: TarEntry = { name, type, size, mode: Math.max(0, mode), linkname };
    this.sink = this.onEntry(entry);
    this.left = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = State.Data;
  }

  private finishSpecial(): void {
    const s = this.special!;
    this.special = null;
    if (s.kind === 'pax') this.pax = parsePax(s.buf);
    else if (s.kind === 'gnu-name') this.longName = readString(s.buf, 0, s.buf.length);
    else if (s.kind === 'gnu-link') this.longLink = readString(s.buf, 0, s.buf.length);
    this.state = this.pad ? State.Pad : State.Header;
  }

  private finishEntry(): void | Promise<void> {
    const sink = this.sink;
    this.sink = null;
    this.state = this.pad ? State.Pad : State.Header;
    return sink ? sink.end() : undefined;
  }
}
