import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import {
  MAX_BYTES,
  parseApkInstalled,
  parseDpkgStatus,
  parseNpmPackageJson,
  parseOsRelease,
  parsePythonMetadata,
  relevantKind,
  type FileKind,
  type OsInfo,
  type Package,
} from './inventory.js';

/** Bump when what a layer inventory records changes: cached inventories of older versions are re-read. */
export const INVENTORY_VERSION = 1;

export interface FileFacts {
  kind: FileKind;
  packages?: Package[];
  os?: OsInfo;
  text?: string;
}

/** What one layer contributes: parsed relevant files, deletions of lower-layer paths, and what could not be read. */
export interface LayerInventory {
  files: Record<string, FileFacts>;
  /** paths removed from lower layers (whiteouts, or a link/directory replacing a relevant file) */
  removed: string[];
  /** directories made opaque: lower-layer content below them is hidden */
  opaque: string[];
  problems: string[];
  entries: number;
  bytes: number;
}

export interface WalkLimits {
  maxEntries: number;
  maxBytes: number;
}

export const DEFAULT_LIMITS: WalkLimits = { maxEntries: 2_000_000, maxBytes: 64 * 1024 ** 3 };
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

function parseFile(kind: FileKind, path: string, text: string): FileFacts {
  switch (kind) {
    case 'os-release':
      return { kind, os: parseOsRelease(text) ?? undefined };
    case 'debian_version':
    case 'alpine-release':
      return { kind, text: text.trim().slice(0, 64) };
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
    case 'rpmdb':
      return { kind };
  }
}

/** Counts bytes through, and stops the stream when a cap is passed (a decompression bomb ends here). */
function meter(limit: number, onBytes: (n: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      onBytes(total);
      if (total > limit) cb(new Error(`layer exceeds ${limit} uncompressed bytes`));
      else cb(null, chunk);
    },
  });
}

/**
 * Streams one layer blob once: gunzip (when gzip) → tar, reading only the files Berth parses (each under its size
 * cap) and skipping everything else without keeping it. Links are never followed; paths that climb out are refused.
 * Never throws for bad content: what could not be read is listed in `problems`.
 */
export async function readLayer(blob: Readable, limits: WalkLimits = DEFAULT_LIMITS, signal?: AbortSignal): Promise<LayerInventory> {
  const inv: LayerInventory = { files: {}, removed: [], opaque: [], problems: [], entries: 0, bytes: 0 };
  const problem = (p: string) => {
    if (inv.problems.length < MAX_PROBLEMS) inv.problems.push(p);
  };
  const head = await peek(blob, 4);
  const source: Readable = head.stream;
  const magic = head.bytes;
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  if (magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd) {
    source.destroy();
    problem('zstd-compressed layer: not supported by this scanner version');
    return inv;
  }
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    // When the pipeline fails (a limit, a truncated blob), the entry stream is destroyed with the error: the
    // pipeline already reports it.
    stream.on('error', () => undefined);
    inv.entries++;
    if (inv.entries > limits.maxEntries) {
      next(new Error(`layer has more than ${limits.maxEntries} entries`));
      return;
    }
    const skip = () => {
      stream.on('end', () => next());
      stream.resume();
    };
    const path = normalizePath(header.name);
    if (path === null) {
      problem(`refused a path that leaves the root: ${header.name.slice(0, 200)}`);
      return skip();
    }
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const dir = slash === -1 ? '' : path.slice(0, slash);
    if (base.startsWith('.wh.')) {
      if (base === '.wh..wh..opq') inv.opaque.push(dir);
      else inv.removed.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
      return skip();
    }
    const kind = relevantKind(path);
    if (!kind) return skip();
    if (header.type !== 'file' && header.type !== 'contiguous-file') {
      // A link or directory where a package database lives replaces the lower file; Berth does not follow it.
      inv.removed.push(path);
      delete inv.files[path];
      if (header.type === 'symlink' || header.type === 'link') problem(`${path} is a ${header.type === 'link' ? 'hard link' : 'symbolic link'}: not followed`);
      return skip();
    }
    const cap = MAX_BYTES[kind];
    if (kind === 'rpmdb') {
      problem(`${path}: rpm databases are not read by this scanner version`);
      inv.files[path] = { kind };
      return skip();
    }
    if ((header.size ?? 0) > cap) {
      problem(`${path} is ${header.size} bytes, over the ${cap}-byte limit: skipped`);
      inv.removed.push(path);
      return skip();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: unknown) => {
      if (!Buffer.isBuffer(c)) return;
      size += c.length;
      if (size <= cap) chunks.push(c);
    });
    stream.on('end', () => {
      if (size <= cap) {
        try {
          inv.files[path] = parseFile(kind, path, Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          problem(`${path}: could not be parsed (${(err as Error).message.slice(0, 100)})`);
        }
      }
      next();
    });
  });
  try {
    const count = meter(limits.maxBytes, (n) => (inv.bytes = n));
    if (gzip) await pipeline(source, zlib.createGunzip({ chunkSize: 256 * 1024 }), count, extract, { signal });
    else await pipeline(source, count, extract, { signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    problem(`layer could not be read to the end: ${(err as Error).message.slice(0, 200)}`);
  }
  return inv;
}

/** Reads the first n bytes, then hands back a stream that still yields everything. */
async function peek(stream: Readable, n: number): Promise<{ bytes: Buffer; stream: Readable }> {
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
      yield r.value as Buffer;
    }
  }
  return { bytes, stream: Readable.from(rest(), { objectMode: false, highWaterMark: 1024 * 1024 }) };
}

export interface ImageInventory {
  os: OsInfo | null;
  packages: Package[];
  problems: string[];
}

/**
 * Applies layers bottom-up with OCI whiteout semantics: a layer's opaque directories and whiteouts hide lower
 * content first, then its files replace lower ones. What remains is the image's inventory.
 */
export function mergeLayers(layers: LayerInventory[]): ImageInventory {
  const state = new Map<string, FileFacts>();
  const problems: string[] = [];
  const hideBelow = (prefix: string) => {
    for (const k of state.keys()) if (prefix === '' || k === prefix || k.startsWith(`${prefix}/`)) state.delete(k);
  };
  for (const layer of layers) {
    for (const d of layer.opaque) for (const k of state.keys()) if (d === '' || k.startsWith(`${d}/`)) state.delete(k);
    for (const r of layer.removed) hideBelow(r);
    for (const [p, f] of Object.entries(layer.files)) state.set(p, f);
    problems.push(...layer.problems);
  }
  let os: OsInfo | null = state.get('etc/os-release')?.os ?? state.get('usr/lib/os-release')?.os ?? null;
  if (!os) {
    const deb = state.get('etc/debian_version')?.text;
    const alp = state.get('etc/alpine-release')?.text;
    if (alp) os = { id: 'alpine', versionId: alp };
    else if (deb && /^\d+/.test(deb)) os = { id: 'debian', versionId: deb.split('.')[0]! };
  }
  const packages: Package[] = [];
  const seen = new Set<string>();
  for (const [path, f] of [...state.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const p of f.packages ?? []) {
      const key = p.type === 'deb' || p.type === 'apk' ? `${p.type}:${p.name}:${p.arch ?? ''}` : `${p.type}:${p.name}:${p.version}:${path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      packages.push(p);
    }
  }
  return { os, packages, problems };
}
