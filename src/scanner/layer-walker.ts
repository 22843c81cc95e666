import fs from 'node:fs';
import os from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { CargoAuditableScanner } from './cargo-auditable.js';
import { GoBuildInfoScanner } from './gobinary.js';
import { readJavaArchive } from './java.js';
import { readRpmDb } from './rpmdb.js';
import { TarReader, type EntrySink, type TarEntry } from './tar-reader.js';
import { zstdDecompressor } from './zstd.js';
import {
  MAX_BYTES,
  osFromReleaseFile,
  parseApkInstalled,
  parseDpkgStatus,
  parseGemspec,
  parseNpmPackageJson,
  parseOsRelease,
  parsePythonMetadata,
  relevantKind,
  type FileKind,
  type OsInfo,
  type Package,
} from './inventory.js';

/** Bump when what a layer inventory records changes: cached inventories of older versions are re-read. */
export const INVENTORY_VERSION = 4;

export interface FileFacts {
  kind: FileKind;
  packages?: Package[];
  os?: OsInfo;
  text?: string;
  /**
   * A symbolic link at a watched path, resolved against its own directory (`etc/os-release` → `usr/lib/os-release`
   * in every Debian and Ubuntu image): the image's merge reads its target instead (see {@link mergeLayers}).
   */
  link?: string;
}

/**
 * Something the scanner could not read. `path` set: one file (a package database over its size cap, unparsable, or a
 * link Berth does not follow); `path` null: the whole layer (unknown compression, truncated, over a limit), so
 * anything in it may be missing from the inventory.
 */
export interface LayerGap {
  path: string | null;
  reason: string;
}

/** What one layer contributes: parsed relevant files, deletions of lower-layer paths, and what could not be read. */
export interface LayerInventory {
  files: Record<string, FileFacts>;
  /** paths removed from lower layers (whiteouts, or a link/directory replacing a relevant file) */
  removed: string[];
  /** directories made opaque: lower-layer content below them is hidden */
  opaque: string[];
  /** human-readable notes, gaps included */
  problems: string[];
  /** what could not be read: each makes the report `incomplete` unless a later layer replaces the path */
  gaps: LayerGap[];
  entries: number;
  /** uncompressed bytes read */
  bytes: number;
  /** compressed (blob) bytes read */
  compressedBytes: number;
}

export interface WalkLimits {
  maxEntries: number;
  /** uncompressed bytes of this layer */
  maxBytes: number;
  /**
   * Uncompressed bytes per compressed byte, checked as the layer streams (after the first `ratioSlack` bytes): a
   * decompression bomb stops here instead of at `maxBytes`.
   */
  maxRatio: number;
  ratioSlack: number;
  /**
   * The blob's size when known (the manifest says it): the ratio then caps the layer at `maxRatio × size` bytes
   * (or `ratioSlack`, whichever is more), however its content is ordered; unknown, it is checked as bytes stream.
   */
  compressedSize?: number;
  /**
   * The `zstd` program that decodes zstd layers (a name looked up on PATH, or a path); null, or a program that
   * cannot be started: the built-in decoder (fzstd, about twice the CPU time of a whole layer walk). See zstd.ts.
   */
  zstd: string | null;
}

export const DEFAULT_LIMITS: WalkLimits = { maxEntries: 2_000_000, maxBytes: 64 * 1024 ** 3, maxRatio: 100, ratioSlack: 16 * 1024 * 1024, zstd: 'zstd' };
const MAX_PROBLEMS = 50;

/** `./a/b`, `/a/b`, `a//b/` → `a/b`; null for paths that climb out (`..`). */
export function normalizePath(name: string): string | null {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return null;
    parts.push(p);
  }
  return parts.join('/');
}

/**
 * A link target as the kernel resolves it inside the image's root: relative to `dir`, `..` at the root stays at the
 * root (`etc` + `../usr/lib/os-release` → `usr/lib/os-release`). Null for an empty result.
 */
export function resolveLink(dir: string, target: string): string | null {
  const parts = target.startsWith('/') || dir === '' ? [] : dir.split('/');
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.length ? parts.join('/') : null;
}

function parseFile(kind: FileKind, path: string, text: string): FileFacts {
  switch (kind) {
    case 'os-release':
      return { kind, os: parseOsRelease(text) ?? undefined };
    case 'debian_version':
    case 'alpine-release':
      return { kind, text: text.trim().slice(0, 64) };
    case 'redhat-release':
    case 'lsb-release':
      return { kind, text: text.trim().slice(0, 1024) };
    case 'dpkg-status':
      return { kind, packages: parseDpkgStatus(text, path) };
    case 'dpkg-status-d':
      return { kind, packages: parseDpkgStatus(text, path, false) };
    case 'apk-installed':
      return { kind, packages: parseApkInstalled(text, path) };
    case 'npm':
      return { kind, packages: parseNpmPackageJson(text, path) };
    case 'pypi':
      return { kind, packages: parsePythonMetadata(text, path) };
    case 'gemspec':
      return { kind, packages: parseGemspec(text, path) };
    case 'rpmdb':
    case 'go-binary':
    case 'java-archive':
    case 'rust-binary':
      return { kind }; // read from a temporary file, from bytes or streamed, not from text
  }
}

/**
 * The most uncompressed bytes the layer may have: its byte cap, and the expansion ratio over the compressed bytes
 * (the blob's size when known, else what has streamed in so far), never below `ratioSlack`. A decompression bomb
 * ends here, after at most `ratioSlack` bytes plus `maxRatio` per compressed byte.
 */
function allowance(limits: WalkLimits, compressed: number): number {
  return Math.min(limits.maxBytes, Math.max(limits.ratioSlack, (limits.compressedSize ?? compressed) * limits.maxRatio));
}

function overBudget(limits: WalkLimits, compressed: number, total: number): string | null {
  if (total > limits.maxBytes) return `layer exceeds ${limits.maxBytes} uncompressed bytes`;
  if (total <= limits.ratioSlack) return null;
  const size = limits.compressedSize;
  if (size !== undefined ? total > size * limits.maxRatio : total > compressed * limits.maxRatio) return `layer expands more than ${limits.maxRatio}:1 (${total} bytes from ${size ?? compressed})`;
  return null;
}

/** A scan budget was reached (bytes, ratio, entries): the layer is capped, not broken. */
export class LimitError extends Error {}

/**
 * zlib's output chunk: 1 MiB costs ~10% less CPU than 256 KiB on a real Debian layer (fewer callbacks into
 * JavaScript) and bounds how far one chunk can run past a byte cap.
 */
const GUNZIP_CHUNK = 1024 * 1024;

/**
 * Streams one layer blob once: gunzip (when gzip) → tar, reading only the files Berth parses (each under its size
 * cap) and skipping everything else without touching its bytes. Links are never followed; paths that climb out are
 * refused. Never throws for bad content: what could not be read is listed in `problems`.
 */
export async function readLayer(blob: Readable, partial: Partial<WalkLimits> = {}, signal?: AbortSignal): Promise<LayerInventory> {
  const limits: WalkLimits = { ...DEFAULT_LIMITS, ...partial };
  const inv: LayerInventory = { files: {}, removed: [], opaque: [], problems: [], gaps: [], entries: 0, bytes: 0, compressedBytes: 0 };
  const problem = (p: string) => {
    if (inv.problems.length < MAX_PROBLEMS) inv.problems.push(p);
  };
  /** `path` null: the layer as a whole */
  const gap = (path: string | null, reason: string) => {
    problem(path === null ? reason : `${path}: ${reason}`);
    if (inv.gaps.length < MAX_PROBLEMS) inv.gaps.push({ path, reason: reason.slice(0, 300) });
  };
  /** A relevant file that could not be read: it hides what lower layers had at its path, and is a gap. */
  const unreadable = (path: string, reason: string) => {
    gap(path, reason);
    inv.removed.push(path);
    delete inv.files[path];
  };
  const head = await peek(blob, 10);
  const magic = head.bytes;
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const zstd = magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd;
  const other = magic.subarray(0, 3).toString('latin1') === 'BZh' && magic.subarray(4, 10).toString('latin1') === '1AY&SY' ? 'bzip2' : magic.subarray(0, 6).equals(XZ_MAGIC) ? 'xz' : null;
  if (other) {
    blob.destroy();
    gap(null, `${other}-compressed layer: not supported`);
    return inv;
  }
  const onEntry = (header: TarEntry): EntrySink | null => {
    inv.entries++;
    if (inv.entries > limits.maxEntries) throw new LimitError(`layer has more than ${limits.maxEntries} entries`);
    const path = normalizePath(header.name);
    if (path === null) {
      // nothing in a container can live there: a note, not a gap
      problem(`refused a path that leaves the root: ${header.name.slice(0, 200)}`);
      return null;
    }
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const dir = slash === -1 ? '' : path.slice(0, slash);
    if (base.startsWith('.wh.')) {
      if (base === '.wh..wh..opq') inv.opaque.push(dir);
      else inv.removed.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
      return null;
    }
    const kind = relevantKind(path);
    const regular = header.type === 'file' || header.type === 'contiguous-file';
    if (!kind) {
      // an executable may be a Go binary: streamed through the build-info scanner (nothing kept but the info)
      if (regular && (header.mode & 0o111) !== 0 && header.size >= 4096 && header.size <= MAX_BYTES['go-binary']) return executableSink(path, inv, gap);
      return null;
    }
    if (!regular) {
      // A link or directory where a package database lives replaces the lower file; Berth does not follow it.
      inv.removed.push(path);
      delete inv.files[path];
      // a link to a Java archive or gemspec (`foo.jar -> foo-1.2.jar`) loses nothing: its target is read as a file
      if ((header.type === 'symlink' || header.type === 'link') && kind !== 'java-archive' && kind !== 'gemspec') {
        // symbolic links resolve against the link's directory, hard links name a path from the root; the image's
        // merge reads the target when it is a watched file, and lists a gap when it is not
        const name = header.linkname;
        const target = resolveLink(header.type === 'link' || name.startsWith('/') ? '' : dir, name);
        if (target !== null && target !== path) inv.files[path] = { kind, link: target };
        else gap(path, `a ${header.type === 'link' ? 'hard link' : 'symbolic link'} to ${name.slice(0, 200)}: not followed`);
      }
      return null;
    }
    const cap = MAX_BYTES[kind];
    if (header.size > cap) {
      unreadable(path, `${header.size} bytes, over the ${cap}-byte limit: skipped`);
      return null;
    }
    if (kind === 'rpmdb')
      return rpmDbSink(
        path,
        signal,
        (packages) => (inv.files[path] = { kind, packages }),
        (err) => unreadable(path, `rpm database could not be read (${err.message.slice(0, 120)})`),
      );
    if (kind === 'java-archive') {
      // a zip is read from its end: held in memory (one buffer of its declared size, under the cap) until the entry
      // ends, then read and dropped
      const buf = Buffer.allocUnsafe(header.size);
      let got = 0;
      return {
        write: (c) => {
          if (got + c.length <= buf.length) c.copy(buf, got);
          got += c.length;
        },
        end: () => {
          if (got !== buf.length) return;
          const r = readJavaArchive(buf, path);
          inv.files[path] = { kind, packages: r.packages };
          if (r.gaps.length) {
            const shown = r.gaps.slice(0, 5).map((g) => (g.inner ? `${g.inner}: ${g.reason}` : g.reason));
            gap(path, `${shown.join('; ')}${r.gaps.length > 5 ? `; and ${r.gaps.length - 5} more` : ''}`);
          }
          for (const u of r.unidentified.slice(0, 5)) problem(`${u}: a Java archive without Maven coordinates (no pom.properties, no usable MANIFEST.MF)`);
        },
      };
    }
    const chunks: Buffer[] = [];
    return {
      write: (c) => void chunks.push(c),
      end: () => {
        try {
          inv.files[path] = parseFile(kind, path, (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8'));
        } catch (err) {
          unreadable(path, `could not be parsed (${(err as Error).message.slice(0, 100)})`);
        }
      },
    };
  };
  const reader = new TarReader(onEntry);
  /** Walks decompressed bytes, each chunk only as far as the byte budget allows. */
  const walk = async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      const room = allowance(limits, inv.compressedBytes) - inv.bytes;
      const fits = chunk.length <= room;
      const part = fits ? chunk : chunk.subarray(0, Math.max(0, room));
      inv.bytes += part.length;
      if (part.length) {
        const r = reader.push(part);
        if (r) await r;
      }
      if (!fits) throw new LimitError(overBudget(limits, inv.compressedBytes, inv.bytes - part.length + chunk.length) ?? 'layer over its byte budget');
    }
    reader.end();
  };
  async function* counted() {
    for await (const c of head.rest) {
      inv.compressedBytes += c.length;
      yield c;
    }
  }
  try {
    if (gzip) await pipeline(counted, zlib.createGunzip({ chunkSize: GUNZIP_CHUNK }), walk, { signal });
    else if (zstd) {
      const guard = (c: number, out: number) => {
        inv.compressedBytes = c;
        const over = overBudget(limits, c, out);
        if (over) throw new LimitError(over);
      };
      await pipeline(head.rest, zstdDecompressor(guard, limits.zstd), walk, { signal });
    } else await pipeline(counted, walk, { signal });
  } catch (err) {
    reader.abort();
    if (signal?.aborted) throw err;
    if (err instanceof LimitError) gap(null, `capped, the rest of the layer was not read: ${err.message.slice(0, 200)}`);
    else gap(null, `layer could not be read to the end: ${(err as Error).message.slice(0, 200)}`);
  }
  return inv;
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/**
 * Streams an executable through the Go build-info scanner and the cargo-auditable scanner (nothing kept but what they
 * find): a Go binary's modules, or a Rust binary's crates, become its packages.
 */
function executableSink(path: string, inv: LayerInventory, gap: (path: string, reason: string) => void): EntrySink {
  const go = new GoBuildInfoScanner(path);
  const rust = new CargoAuditableScanner(path);
  return {
    write: (c) => {
      if (go.wanted) go.push(c);
      // a Go binary is not a Rust one: its debug sections need no search
      if (rust.wanted && !go.found) rust.push(c);
    },
    end: () => {
      const r = go.result();
      if (r.kind === 'packages' && r.packages.length) inv.files[path] = { kind: 'go-binary', packages: r.packages };
      else if (r.kind === 'old-format') gap(path, 'a Go binary built before Go 1.18: its build information is not read');
      const c = rust.result();
      if (c.kind === 'packages' && c.packages.length) inv.files[path] = { kind: 'rust-binary', packages: [...(inv.files[path]?.packages ?? []), ...c.packages] };
      else if (c.kind === 'unreadable') gap(path, c.reason);
    },
  };
}

/**
 * Copies one tar entry to a fresh private temporary directory (a database needs random access), reads it as an rpm
 * database there, and removes it, also when the layer fails half-way. A database that cannot be read is reported
 * through `fail`, unless the scan was stopped: then the walk stops too.
 */
function rpmDbSink(path: string, signal: AbortSignal | undefined, done: (packages: Package[]) => void, fail: (err: Error) => void): EntrySink {
  let dir: string | null = null;
  let file: fs.promises.FileHandle | null = null;
  const opened = (async () => {
    dir = await fs.promises.mkdtemp(join(os.tmpdir(), 'berth-rpmdb-'));
    file = await fs.promises.open(join(dir, basename(path)), 'wx', 0o600);
    return file;
  })();
  opened.catch(() => undefined); // reported by the write or end that awaits it
  const cleanup = async () => {
    await (file as fs.promises.FileHandle | null)?.close().catch(() => undefined);
    if (dir) await fs.promises.rm(dir, { recursive: true, force: true });
  };
  // a failed write (a full disk) makes this database a gap, not the whole layer
  let failed: Error | null = null;
  return {
    write: async (c) => {
      if (failed) return;
      try {
        const h = await opened;
        let at = 0;
        while (at < c.length) at += (await h.write(c, at, c.length - at)).bytesWritten;
      } catch (err) {
        failed = err as Error;
      }
    },
    end: async () => {
      try {
        if (failed) throw failed;
        await (await opened).close();
        file = null;
        done(await readRpmDb(join(dir!, basename(path)), path));
      } catch (err) {
        if (signal?.aborted) throw err;
        fail(err as Error);
      } finally {
        await cleanup();
      }
    },
    abort: () => void cleanup(),
  };
}

/** Reads the first n bytes, then hands back an iterable that still yields everything. */
async function peek(stream: Readable, n: number): Promise<{ bytes: Buffer; rest: AsyncIterable<Buffer> }> {
  const it = stream[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    first.push(b);
    have += b.length;
  }
  const bytes = Buffer.concat(first);
  async function* rest() {
    if (bytes.length) yield bytes;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
  }
  return { bytes, rest: rest() };
}

export interface ImageInventory {
  os: OsInfo | null;
  packages: Package[];
  problems: string[];
  /** what could not be read: `layer` is the layer's digest (or its index when digests were not given) */
  gaps: ImageGap[];
}

export interface ImageGap {
  layer?: string;
  path?: string;
  reason: string;
}

/**
 * Applies layers bottom-up with OCI whiteout semantics: a layer's opaque directories and whiteouts hide lower
 * content first, then its files replace lower ones. What remains is the image's inventory. A file gap (a package
 * database that could not be read) stays only while no later layer replaces or removes that path; a layer gap
 * (the layer could not be read to its end) always stays.
 */
export function mergeLayers(layers: LayerInventory[], digests: string[] = []): ImageInventory {
  const state = new Map<string, FileFacts>();
  const fileGaps = new Map<string, ImageGap>();
  const layerGaps: ImageGap[] = [];
  const problems: string[] = [];
  const under = (prefix: string, k: string) => prefix === '' || k === prefix || k.startsWith(`${prefix}/`);
  const hideBelow = (prefix: string) => {
    for (const k of state.keys()) if (under(prefix, k)) state.delete(k);
    for (const k of fileGaps.keys()) if (under(prefix, k)) fileGaps.delete(k);
  };
  for (const [i, layer] of layers.entries()) {
    const layerName = digests[i] ?? `layer ${i + 1}`;
    for (const d of layer.opaque) {
      for (const k of state.keys()) if (d === '' || k.startsWith(`${d}/`)) state.delete(k);
      for (const k of fileGaps.keys()) if (d === '' || k.startsWith(`${d}/`)) fileGaps.delete(k);
    }
    for (const r of layer.removed) hideBelow(r);
    for (const [p, f] of Object.entries(layer.files)) {
      state.set(p, f);
      fileGaps.delete(p);
    }
    for (const g of layer.gaps ?? []) {
      if (g.path === null) layerGaps.push({ layer: layerName, reason: g.reason });
      else fileGaps.set(g.path, { layer: layerName, path: g.path, reason: g.reason });
    }
    problems.push(...layer.problems);
  }
  // Links at watched paths take their target's facts (at most 8 hops); a link whose target the image does not have
  // as a watched file is a gap. Packages stay with the target's path, so nothing is counted twice.
  for (const [p, f] of state) {
    if (f.link === undefined) continue;
    let t: FileFacts | undefined = f;
    for (let hops = 0; t?.link !== undefined && hops < 8; hops++) t = state.get(t.link);
    if (t && t.link === undefined) state.set(p, { kind: f.kind, os: t.os, text: t.text });
    else {
      state.delete(p);
      fileGaps.set(p, { path: p, reason: `a link to ${f.link}, which is not a file the scanner reads in this image` });
    }
  }
  let os: OsInfo | null = state.get('etc/os-release')?.os ?? state.get('usr/lib/os-release')?.os ?? null;
  if (!os) {
    const deb = state.get('etc/debian_version')?.text;
    const alp = state.get('etc/alpine-release')?.text;
    const rh = ['etc/redhat-release', 'etc/rocky-release', 'etc/almalinux-release', 'etc/centos-release', 'etc/system-release'].map((p) => state.get(p)?.text).find((t) => t);
    const lsb = state.get('etc/lsb-release')?.text;
    if (alp) os = { id: 'alpine', versionId: alp };
    else if (rh && osFromReleaseFile('redhat-release', rh)) os = osFromReleaseFile('redhat-release', rh);
    else if (lsb && osFromReleaseFile('lsb-release', lsb)) os = osFromReleaseFile('lsb-release', lsb);
    else if (deb && /^\d+/.test(deb)) os = { id: 'debian', versionId: deb.split('.')[0]! };
    else if (deb && /^[a-z]+\/sid/.test(deb)) os = { id: 'debian', versionId: '', codename: deb.split('/')[0]! };
  }
  const packages: Package[] = [];
  const seen = new Set<string>();
  for (const [path, f] of [...state.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const p of f.packages ?? []) {
      // rpm installs several versions of one name side by side (kernels)
      const key =
        p.type === 'deb' || p.type === 'apk' ? `${p.type}:${p.name}:${p.arch ?? ''}` : p.type === 'rpm' ? `rpm:${p.name}:${p.version}:${p.arch ?? ''}` : `${p.type}:${p.name}:${p.version}:${path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      packages.push(p);
    }
  }
  return { os, packages, problems, gaps: [...layerGaps, ...fileGaps.values()] };
}
