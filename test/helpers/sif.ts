import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Builds SIF files by hand, following the SIF format specification (sylabs/sif `pkg/sif`, SIF 2 as Apptainer and
 * SingularityCE 4 write it): a 128-byte global header, the descriptor table right after it (585 bytes per
 * descriptor, little-endian, no padding), then the data objects, each aligned to 4096 bytes.
 */

export const DATA = { deffile: 0x4001, labels: 0x4003, partition: 0x4004, signature: 0x4005, ociBlob: 0x400b } as const;
export const FS = { squashfs: 1, ext3: 2, encryptedSquashfs: 5 } as const;
export const PART = { system: 1, primarySystem: 2, data: 3 } as const;

export interface SifObject {
  dataType: number;
  data: Buffer;
  name?: string;
  /** partitions */
  fsType?: number;
  partType?: number;
}

export interface SifOptions {
  /** descriptor slots (Apptainer's default: 48) */
  total?: number;
  version?: string;
}

const ALIGN = 4096;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function buildSif(objects: SifObject[], opts: SifOptions = {}): Buffer {
  const total = opts.total ?? 48;
  const descOff = 128;
  const descLen = total * 585;
  const dataOff = align(descOff + descLen);
  const now = BigInt(Math.floor(Date.now() / 1000));
  const header = Buffer.alloc(128);
  header.write('#!/usr/bin/env run-singularity\n', 0, 'latin1');
  header.write('SIF_MAGIC\0', 32, 'latin1');
  header.write(`${opts.version ?? '02'}\0`, 42, 'latin1');
  header.write('02\0', 45, 'latin1'); // amd64
  randomBytes(16).copy(header, 48);
  header.writeBigInt64LE(now, 64);
  header.writeBigInt64LE(now, 72);
  header.writeBigInt64LE(BigInt(total - objects.length), 80);
  header.writeBigInt64LE(BigInt(total), 88);
  header.writeBigInt64LE(BigInt(descOff), 96);
  header.writeBigInt64LE(BigInt(objects.length * 585), 104);
  header.writeBigInt64LE(BigInt(dataOff), 112);
  const table = Buffer.alloc(descLen);
  const chunks: Buffer[] = [];
  let at = dataOff;
  for (const [i, o] of objects.entries()) {
    const d = i * 585;
    const padded = align(o.data.length);
    table.writeInt32LE(o.dataType, d);
    table[d + 4] = 1;
    table.writeUInt32LE(i + 1, d + 5); // id
    table.writeUInt32LE(0xf0000001, d + 9); // the default object group
    table.writeUInt32LE(0, d + 13);
    table.writeBigInt64LE(BigInt(at), d + 17);
    table.writeBigInt64LE(BigInt(o.data.length), d + 25);
    table.writeBigInt64LE(BigInt(padded), d + 33);
    table.writeBigInt64LE(now, d + 41);
    table.writeBigInt64LE(now, d + 49);
    table.write(o.name ?? '', d + 73, 'latin1');
    if (o.dataType === DATA.partition) {
      table.writeInt32LE(o.fsType ?? FS.squashfs, d + 201);
      table.writeInt32LE(o.partType ?? PART.primarySystem, d + 205);
      table.write('02\0', d + 209, 'latin1');
    }
    const buf = Buffer.alloc(padded);
    o.data.copy(buf);
    chunks.push(buf);
    at += padded;
  }
  header.writeBigInt64LE(BigInt(at - dataOff), 120);
  return Buffer.concat([header, table, Buffer.alloc(dataOff - descOff - descLen), ...chunks]);
}

/**
 * A squashfs of `files` (path → content; mode 0755 for `exec`), made with Debian's mksquashfs. `latin1Names`: paths
 * are byte strings (one character per byte), for names that are not UTF-8.
 */
export function squashfs(dir: string, files: Record<string, string | Buffer>, exec: string[] = [], latin1Names = false): Buffer {
  const root = path.join(dir, 'rootfs');
  fs.rmSync(root, { recursive: true, force: true });
  for (const [p, content] of Object.entries(files)) {
    const f = path.join(root, p);
    const name = latin1Names ? Buffer.from(f, 'latin1') : f;
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(name, content, { mode: exec.includes(p) ? 0o755 : 0o644 });
  }
  const out = path.join(dir, 'rootfs.sqfs');
  const r = spawnSync('mksquashfs', [root, out, '-noappend', '-quiet', '-all-root', '-no-progress'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mksquashfs failed: ${r.stderr}`);
  const data = fs.readFileSync(out);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(out, { force: true });
  return data;
}

/** A SIF as `apptainer build` writes it: a definition file, then the primary system partition (squashfs). */
export function sifOf(dir: string, files: Record<string, string | Buffer>, exec: string[] = []): Buffer {
  fs.mkdirSync(dir, { recursive: true });
  return buildSif([
    { dataType: DATA.deffile, data: Buffer.from('Bootstrap: docker\nFrom: debian:9\n') },
    { dataType: DATA.partition, data: squashfs(dir, files, exec), fsType: FS.squashfs, partType: PART.primarySystem },
  ]);
}
