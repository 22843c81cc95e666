import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { MAX_BYTES, relevantKind } from './inventory.js';
import { normalizePath, readLayer, type LayerGap, type LayerInventory } from './layer-walker.js';
import { descriptorTableRange, findSystemPartition, parseSifDescriptors, parseSifHeader, SIF_HEADER_SIZE, SifError, type SifDescriptor } from './sif.js';

/**
 * Reads the inventory of an Apptainer/Singularity SIF file: its header and descriptors (sif.ts), then the squashfs of
 * its system partition through Debian's `unsquashfs` (squashfs-tools ≥ 4.5.1: the releases without its directory
 * traversal faults). Only the files the extractors want are extracted, in bounded batches, into a private temporary
 * directory; they are handed to the same walker that reads image layers (as one tar stream), so a SIF gets exactly
 * the package databases, language manifests and binaries an image would. What cannot be read is a gap, never
 * silence.
 */

export interface SifLimits {
  /** the `unsquashfs` program (a name looked up on PATH, or a path) */
  unsquashfs: string;
  /** file system entries listed at most */
  maxEntries: number;
  /** bytes extracted at most (all batches) */
  maxBytes: number;
  /** bytes extracted per batch: the temporary directory never holds more than this plus one file */
  batchBytes: number;
  /** wall-clock limit of each unsquashfs run */
  timeoutMs: number;
}

export const DEFAULT_SIF_LIMITS: SifLimits = {
  unsquashfs: 'unsquashfs',
  maxEntries: 2_000_000,
  maxBytes: 16 * 1024 ** 3,
  batchBytes: 256 * 1024 * 1024,
  timeoutMs: 10 * 60_000,
};

export interface SifInventory {
  /** false: the SIF holds no container file system (a data container); `reason` says so */
  applicable: boolean;
  reason?: string;
  inventory: LayerInventory;
  /** the system partition read, when one was found */
  partition?: { id: number; offset: number; size: number };
}

/** The smallest executable the walker looks into (as in layer-walker.ts). */
const MIN_BINARY = 4096;

/**
 * Whether the walker reads a regular file at this path with this mode and size (or lists it as a gap): package
 * databases, manifests and Java archives by path (`relevantKind`), executables (Go build information,
 * cargo-auditable) by mode. Keep in step with what `readLayer` looks at.
 */
export function sifWants(path: string, mode: number, size: number): boolean {
  if (relevantKind(path)) return true;
  return (mode & 0o111) !== 0 && size >= MIN_BINARY && size <= MAX_BYTES['go-binary'];
}

/** One line of `unsquashfs -lln -UTC`: type and permissions, uid/gid, size (or `major, minor`), date, path. */
const LISTING = /^([-dlbcps])([-rwxsStT]{9}) \d+\/\d+ +(\d+|\d+, +\d+) \d{4}-\d\d-\d\d \d\d:\d\d squashfs-root(?:\/(.*))?$/;

interface Listed {
  type: 'file' | 'symlink';
  mode: number;
  size: number;
  /** symbolic links: the target as listed */
  target?: string;
}

const modeOf = (perm: string): number => {
  let m = 0;
  for (let i = 0; i < 9; i++) if (perm[i] !== '-' && !(i % 3 === 2 && (perm[i] === 'S' || perm[i] === 'T'))) m |= 1 << (8 - i);
  return m;
};

/**
 * Reads the SIF at `file`: never throws for bad content (a malformed SIF, an unreadable squashfs, a missing
 * unsquashfs are gaps of the whole file), only when `signal` aborts.
 */
export async function readSif(file: string, partial: Partial<SifLimits> = {}, signal?: AbortSignal): Promise<SifInventory> {
  const limits: SifLimits = { ...DEFAULT_SIF_LIMITS, ...partial };
  const empty = (): LayerInventory => ({ files: {}, removed: [], opaque: [], problems: [], gaps: [], entries: 0, bytes: 0, compressedBytes: 0 });
  const whole = (reason: string): SifInventory => {
    const inv = empty();
    inv.problems.push(reason);
    inv.gaps.push({ path: null, reason: reason.slice(0, 300) });
    return { applicable: true, inventory: inv };
  };
  let partition: SifDescriptor;
  try {
    const found = await locatePartition(file);
    if (!found.ok) {
      if (!found.applicable) {
        const inv = empty();
        inv.problems.push(found.reason);
        return { applicable: false, reason: found.reason, inventory: inv };
      }
      return whole(found.reason);
    }
    partition = found.partition;
  } catch (err) {
    if (err instanceof SifError) return whole(`SIF could not be read: ${err.message}`);
    throw err;
  }
  const where = { id: partition.id, offset: partition.offset, size: partition.size };
  const tmp = await fs.promises.mkdtemp(join(os.tmpdir(), 'berth-sif-'));
  try {
    const listed = await listSquashfs(file, partition.offset, limits, signal);
    if ('error' in listed) return { ...whole(listed.error), partition: where };
    const extra: LayerGap[] = [];
    const removed: string[] = [];
    const files: [string, Listed][] = [];
    const links: [string, Listed][] = [];
    for (const [path, e] of listed.wanted) {
      if (e.type === 'symlink') {
        links.push([path, e]);
        continue;
      }
      const kind = relevantKind(path);
      if (kind && e.size > MAX_BYTES[kind]) {
        extra.push({ path, reason: `${e.size} bytes, over the ${MAX_BYTES[kind]}-byte limit: skipped` });
        removed.push(path);
        continue;
      }
      files.push([path, e]);
    }
    for (const [path, reason] of listed.ambiguous) {
      extra.push({ path, reason });
      removed.push(path);
    }
    const pack = tar.pack();
    // extraction is bounded above (limits.maxBytes); the walker reads what was extracted, tar headers included
    const walking = readLayer(pack as unknown as Readable, { maxBytes: Number.MAX_SAFE_INTEGER, maxRatio: Number.MAX_SAFE_INTEGER }, signal);
    let extracted = 0;
    let capped: string | null = null;
    try {
      for (const [path, e] of links) await addEntry(pack, { name: utf8(path), type: 'symlink', linkname: utf8(e.target ?? ''), mode: e.mode });
      let batch: [string, Listed][] = [];
      let batchSize = 0;
      let n = 0;
      const flush = async () => {
        if (!batch.length) return;
        const dir = join(tmp, `b${n++}`);
        const err = await extractBatch(
          file,
          partition.offset,
          dir,
          batch.map(([p]) => p),
          limits,
          signal,
        );
        if (err) extra.push({ path: null, reason: err });
        for (const [path, e] of batch) {
          const reason = await packFile(pack, dir, path, e);
          if (reason) {
            extra.push({ path, reason });
            removed.push(path);
          }
        }
        await fs.promises.rm(dir, { recursive: true, force: true });
        batch = [];
        batchSize = 0;
      };
      for (const [path, e] of files) {
        signal?.throwIfAborted();
        if (extracted + e.size > limits.maxBytes) {
          capped ??= `capped after ${extracted} extracted bytes (limit ${limits.maxBytes}): the rest of the system partition was not read`;
          if (relevantKind(path)) {
            extra.push({ path, reason: 'not read: the extraction budget is spent' });
            removed.push(path);
          }
          continue;
        }
        extracted += e.size;
        batch.push([path, e]);
        batchSize += e.size;
        if (batchSize >= limits.batchBytes) await flush();
      }
      await flush();
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
      await walking.catch(() => undefined);
      if (signal?.aborted) throw err;
      extra.push({ path: null, reason: `the system partition could not be read to the end: ${(err as Error).message.slice(0, 200)}` });
    }
    const inv = await walking;
    inv.entries = listed.entries;
    for (const g of extra) {
      if (inv.gaps.length >= 50) break;
      const path = g.path === null ? null : utf8(g.path);
      inv.gaps.push({ path, reason: g.reason });
      inv.problems.push(path === null ? g.reason : `${path}: ${g.reason}`);
    }
    if (capped) {
      inv.gaps.push({ path: null, reason: capped });
      inv.problems.push(capped);
    }
    for (const p of removed.map(utf8)) {
      delete inv.files[p];
      if (!inv.removed.includes(p)) inv.removed.push(p);
    }
    inv.compressedBytes = partition.size;
    return { applicable: true, inventory: inv, partition: where };
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}

/** Header, descriptors, system partition, and the squashfs magic at its start. */
async function locatePartition(file: string): Promise<ReturnType<typeof findSystemPartition>> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(SIF_HEADER_SIZE);
    const { bytesRead } = await fh.read(head, 0, SIF_HEADER_SIZE, 0);
    const header = parseSifHeader(head.subarray(0, bytesRead), size);
    const range = descriptorTableRange(header);
    const table = Buffer.alloc(range.length);
    const got = await fh.read(table, 0, range.length, range.offset);
    const found = findSystemPartition(parseSifDescriptors(table.subarray(0, got.bytesRead), header, size));
    if (!found.ok) return found;
    const magic = Buffer.alloc(4);
    await fh.read(magic, 0, 4, found.partition.offset);
    if (magic.toString('latin1') !== 'hsqs') throw new SifError(`the system partition (object ${found.partition.id}) does not start with a squashfs superblock`);
    return found;
  } finally {
    await fh.close();
  }
}

interface Listing {
  entries: number;
  wanted: Map<string, Listed>;
  /** paths listed more than once (a name with a line break can imitate another line): not trusted, not read */
  ambiguous: Map<string, string>;
}

/** Runs unsquashfs with fixed arguments (no shell), a timeout and the caller's abort signal; streams stdout by line. */
function runUnsquashfs(args: string[], limits: SifLimits, signal: AbortSignal | undefined, onLine?: (line: string) => boolean): Promise<{ code: number | null; stderr: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(limits.unsquashfs, args, { stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'], signal, killSignal: 'SIGKILL' });
    let stderr = '';
    let stopped: string | undefined;
    // our own timer, not spawn's `timeout`: Node never clears that one when the spawn itself fails (ENOENT), which
    // keeps the process alive for the whole timeout
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    const settle = () => clearTimeout(timer);
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    if (onLine) {
      // latin1: one character per byte, so a name that is not UTF-8 is written back byte for byte (extract list, open)
      child.stdout!.setEncoding('latin1');
      const rl = createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY });
      rl.on('line', (line) => {
        if (stopped) return;
        if (!onLine(line)) {
          stopped = 'stopped';
          child.kill('SIGKILL');
        }
      });
    }
    child.on('error', (err: NodeJS.ErrnoException) => {
      settle();
      if (signal?.aborted) return reject(signal.reason ?? err);
      if (err.code === 'ENOENT') resolve({ code: null, stderr, error: `${limits.unsquashfs} (Debian's squashfs-tools) is not installed: the SIF's file system was not read` });
      else if (err.name === 'AbortError') reject(err);
      else resolve({ code: null, stderr, error: `unsquashfs failed: ${err.message}` });
    });
    child.on('close', (code, sig) => {
      settle();
      if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
      if (stopped) return resolve({ code, stderr, error: stopped });
      if (sig && timedOut) return resolve({ code, stderr, error: `unsquashfs took longer than ${Math.round(limits.timeoutMs / 1000)} s: stopped` });
      if (sig) return resolve({ code, stderr, error: `unsquashfs ended by signal ${sig}` });
      resolve({ code, stderr });
    });
  });
}

const lastLine = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .slice(-1)[0]
    ?.slice(0, 200) ?? '';

/** Lists the squashfs at `offset` and keeps what the walker wants. */
async function listSquashfs(file: string, offset: number, limits: SifLimits, signal?: AbortSignal): Promise<Listing | { error: string }> {
  const wanted = new Map<string, Listed>();
  const ambiguous = new Map<string, string>();
  let entries = 0;
  let prev: string | null = null;
  let over = false;
  const r = await runUnsquashfs(['-lln', '-UTC', '-n', '-p', '1', '-da', '8', '-fr', '8', '-o', String(offset), file], limits, signal, (line) => {
    const m = LISTING.exec(line);
    if (!m) {
      // the previous name went on past a line break: the path parsed from its first line is not the file's
      if (prev !== null && wanted.has(prev)) wanted.delete(prev);
      prev = null;
      return true;
    }
    entries++;
    if (entries > limits.maxEntries) {
      over = true;
      return false;
    }
    prev = null;
    const [, t, perm, size, rest] = m;
    if (t !== '-' && t !== 'l') return true;
    let name = rest ?? '';
    let target: string | undefined;
    if (t === 'l') {
      const i = name.indexOf(' -> ');
      if (i === -1) return true;
      target = name.slice(i + 4);
      name = name.slice(0, i);
    }
    const path = normalizePath(name);
    if (!path) return true;
    const mode = modeOf(perm!);
    const bytes = Number(size);
    if (t === 'l' ? !relevantKind(path) : !sifWants(path, mode, bytes)) return true;
    if (wanted.has(path) || ambiguous.has(path)) {
      wanted.delete(path);
      ambiguous.set(path, 'listed more than once (a file name with a line break can imitate another entry): not read');
      return true;
    }
    wanted.set(path, { type: t === 'l' ? 'symlink' : 'file', mode, size: bytes, target: target?.slice(0, 1024) });
    prev = path;
    return true;
  });
  if (over) return { error: `the system partition has more than ${limits.maxEntries} entries: not read` };
  if (r.error) return { error: r.error };
  if (r.code !== 0) return { error: `the system partition's squashfs could not be read (unsquashfs exit ${r.code}: ${lastLine(r.stderr)})` };
  return { entries, wanted, ambiguous };
}

/** Extracts the listed paths (regular files) into `dir`; a message when unsquashfs failed. */
async function extractBatch(file: string, offset: number, dir: string, paths: string[], limits: SifLimits, signal?: AbortSignal): Promise<string | null> {
  const list = `${dir}.list`;
  await fs.promises.writeFile(list, `${paths.join('\n')}\n`, { mode: 0o600, encoding: 'latin1' });
  try {
    const r = await runUnsquashfs(['-d', dir, '-f', '-no-xattrs', '-no-wildcards', '-n', '-q', '-p', '1', '-da', '16', '-fr', '16', '-o', String(offset), '-ef', list, file], limits, signal);
    if (r.error) return r.error;
    // 2: non-fatal errors (ownership, permissions the temporary directory could not take): each file is checked below
    if (r.code !== 0 && r.code !== 2) return `files of the system partition could not be extracted (unsquashfs exit ${r.code}: ${lastLine(r.stderr)})`;
    return null;
  } finally {
    await fs.promises.rm(list, { force: true });
  }
}

/** Adds one extracted file to the tar stream (opened without following links, checked to be the listed size). */
async function packFile(pack: tar.Pack, dir: string, path: string, e: Listed): Promise<string | null> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(Buffer.from(join(dir, path), 'latin1'), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return 'listed in the squashfs but could not be extracted';
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return 'not a regular file once extracted';
    if (st.size !== e.size) return `extracted ${st.size} bytes, the listing said ${e.size}`;
    const entry = pack.entry({ name: utf8(path), size: st.size, mode: e.mode, type: 'file' });
    await pipeline(fh.createReadStream({ start: 0, highWaterMark: 1024 * 1024 }), entry);
    return null;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A path as listed (latin1, one character per byte) → its UTF-8 reading, as tar entries and reports carry it. */
const utf8 = (latin1: string) => Buffer.from(latin1, 'latin1').toString('utf8');

function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}
