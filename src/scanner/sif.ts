/**
 * The Singularity Image Format (SIF) container file, as Apptainer and SingularityCE write it (sylabs/sif, apptainer/sif
 * `pkg/sif`): a global header, a table of fixed-size data object descriptors, then the data objects (definition file,
 * labels, signatures, and the file system partitions a container runs from). Pure: parses bytes handed to it, never
 * reads a file. Every SIF comes from whoever pushed it and is hostile: each field is checked against the file's size
 * and the bounds below before it is used, and a malformed file is a `SifError` naming what is wrong.
 *
 * On-disk layout (little-endian, Go `encoding/binary` packing: no padding between fields):
 *
 * header, 128 bytes: launch script [32] · magic "SIF_MAGIC\0" [10] · version "01\0"/"02\0" [3] · arch [3] · uuid [16] ·
 * created, modified, descriptors free, descriptors total, descriptors offset, descriptors size, data offset,
 * data size (int64 each).
 *
 * descriptor, 585 bytes: data type int32 · used bool · id, group id, linked id uint32 · offset, size, size with
 * padding, created, modified, uid, gid int64 · name [128] · extra [384]; for a partition, extra starts with
 * fs type int32 · partition type int32 · arch [3].
 */

export const SIF_HEADER_SIZE = 128;
export const SIF_DESCRIPTOR_SIZE = 585;
export const SIF_MAGIC = 'SIF_MAGIC';
/** Versions of the format Berth reads: "01" (SIF 1, Singularity 3.x) and "02" (SIF 2, Apptainer, SingularityCE 4). */
export const SIF_VERSIONS = ['01', '02'] as const;
/**
 * At most this many descriptors are read. Apptainer creates 48 by default (and `siftool` a few more); a header that
 * claims millions would make the parser allocate and loop for nothing.
 */
export const MAX_DESCRIPTORS = 4096;

/** Data object types (`DataType`, iota + 0x4001). */
export const SIF_DATA = {
  deffile: 0x4001,
  envVar: 0x4002,
  labels: 0x4003,
  partition: 0x4004,
  signature: 0x4005,
  genericJson: 0x4006,
  generic: 0x4007,
  cryptoMessage: 0x4008,
  sbom: 0x4009,
  ociRootIndex: 0x400a,
  ociBlob: 0x400b,
} as const;

/** File system types of a partition (`FSType`, iota + 1). */
export const SIF_FS = { squashfs: 1, ext3: 2, immutableObject: 3, raw: 4, encryptedSquashfs: 5 } as const;

/** Partition types (`PartType`, iota + 1): a container runs from its primary system partition. */
export const SIF_PART = { system: 1, primarySystem: 2, data: 3, overlay: 4 } as const;

export interface SifHeader {
  version: string;
  /** the header's architecture code ("02" amd64, "04" arm64 ...), raw */
  arch: string;
  descriptorsFree: number;
  descriptorsTotal: number;
  descriptorsOffset: number;
  descriptorsSize: number;
  dataOffset: number;
  dataSize: number;
}

export interface SifDescriptor {
  dataType: number;
  id: number;
  groupId: number;
  linkedId: number;
  offset: number;
  size: number;
  name: string;
  /** partitions only */
  fsType?: number;
  partType?: number;
  partArch?: string;
}

/** The file is not a SIF Berth can read: what is wrong, in words fit for a report. */
export class SifError extends Error {}

/**
 * An int64 field as a safe JavaScript number. SIF offsets and sizes are non-negative and below 2^53 in any real file
 * (8 PiB); anything else is refused, never rounded.
 */
function int64(buf: Buffer, at: number, field: string): number {
  const v = buf.readBigInt64LE(at);
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SifError(`${field} ${v} is out of range`);
  return Number(v);
}

/** A NUL-terminated (or NUL-padded) fixed-size text field, printable ASCII only. */
function cstring(buf: Buffer, at: number, len: number): string {
  const raw = buf.subarray(at, at + len);
  const end = raw.indexOf(0);
  return raw
    .subarray(0, end === -1 ? len : end)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Parses the global header from the file's first bytes and checks it against the file's size: the magic, a known
 * version, and a descriptor table and data section that lie inside the file.
 * @param head at least the first 128 bytes of the file (fewer: the file is truncated)
 * @param fileSize the whole file's size in bytes
 */
export function parseSifHeader(head: Buffer, fileSize: number): SifHeader {
  if (head.length < SIF_HEADER_SIZE || fileSize < SIF_HEADER_SIZE) throw new SifError(`not a SIF file: ${Math.min(head.length, fileSize)} bytes, shorter than the ${SIF_HEADER_SIZE}-byte SIF header`);
  if (head.subarray(32, 42).toString('latin1') !== `${SIF_MAGIC}\0`) throw new SifError('not a SIF file: no SIF_MAGIC at byte 32');
  const version = cstring(head, 42, 3);
  if (!(SIF_VERSIONS as readonly string[]).includes(version)) throw new SifError(`SIF version "${version.slice(0, 8)}" is not one Berth reads (${SIF_VERSIONS.join(', ')})`);
  const h: SifHeader = {
    version,
    arch: cstring(head, 45, 3),
    descriptorsFree: int64(head, 80, 'free descriptor count'),
    descriptorsTotal: int64(head, 88, 'descriptor count'),
    descriptorsOffset: int64(head, 96, 'descriptor offset'),
    descriptorsSize: int64(head, 104, 'descriptor size'),
    dataOffset: int64(head, 112, 'data offset'),
    dataSize: int64(head, 120, 'data size'),
  };
  if (h.descriptorsTotal === 0) throw new SifError('the SIF header lists no descriptors');
  if (h.descriptorsTotal > MAX_DESCRIPTORS) throw new SifError(`the SIF header claims ${h.descriptorsTotal} descriptors, more than the ${MAX_DESCRIPTORS} Berth reads`);
  if (h.descriptorsFree > h.descriptorsTotal) throw new SifError(`the SIF header claims ${h.descriptorsFree} free of ${h.descriptorsTotal} descriptors`);
  if (h.descriptorsOffset < SIF_HEADER_SIZE) throw new SifError(`the descriptor table at byte ${h.descriptorsOffset} overlaps the header`);
  const tableEnd = h.descriptorsOffset + h.descriptorsTotal * SIF_DESCRIPTOR_SIZE;
  if (tableEnd > fileSize) throw new SifError(`the descriptor table (${h.descriptorsTotal} descriptors at byte ${h.descriptorsOffset}) ends past the end of the file (${fileSize} bytes): truncated`);
  if (h.dataOffset + h.dataSize > fileSize) throw new SifError(`the data section (${h.dataSize} bytes at byte ${h.dataOffset}) ends past the end of the file (${fileSize} bytes): truncated`);
  return h;
}

/** Bytes of the descriptor table, to read after the header: where it starts and how long it is. */
export function descriptorTableRange(h: SifHeader): { offset: number; length: number } {
  return { offset: h.descriptorsOffset, length: h.descriptorsTotal * SIF_DESCRIPTOR_SIZE };
}

/**
 * Parses the descriptor table (`descriptorTableRange` bytes) and returns the descriptors in use. Each object must lie
 * inside the file; ids must be unique.
 */
export function parseSifDescriptors(table: Buffer, h: SifHeader, fileSize: number): SifDescriptor[] {
  const { length } = descriptorTableRange(h);
  if (table.length < length) throw new SifError(`the descriptor table is ${table.length} bytes, ${length} expected: truncated`);
  const out: SifDescriptor[] = [];
  const ids = new Set<number>();
  for (let i = 0; i < h.descriptorsTotal; i++) {
    const at = i * SIF_DESCRIPTOR_SIZE;
    const used = table[at + 4];
    if (used === 0) continue;
    if (used !== 1) throw new SifError(`descriptor ${i}: "used" flag is ${used}, not a boolean`);
    const dataType = table.readInt32LE(at);
    const id = table.readUInt32LE(at + 5);
    const d: SifDescriptor = {
      dataType,
      id,
      groupId: table.readUInt32LE(at + 9),
      linkedId: table.readUInt32LE(at + 13),
      offset: int64(table, at + 17, `descriptor ${i} offset`),
      size: int64(table, at + 25, `descriptor ${i} size`),
      name: cstring(table, at + 73, 128),
    };
    if (d.offset + d.size > fileSize) throw new SifError(`data object ${id} (${d.size} bytes at byte ${d.offset}) ends past the end of the file (${fileSize} bytes): truncated`);
    if (d.size > 0 && d.offset < SIF_HEADER_SIZE) throw new SifError(`data object ${id} at byte ${d.offset} overlaps the header`);
    if (ids.has(id)) throw new SifError(`two descriptors share the id ${id}`);
    ids.add(id);
    if (dataType === SIF_DATA.partition) {
      const extra = at + 201;
      d.fsType = table.readInt32LE(extra);
      d.partType = table.readInt32LE(extra + 4);
      d.partArch = cstring(table, extra + 8, 3);
    }
    out.push(d);
  }
  const expectUsed = h.descriptorsTotal - h.descriptorsFree;
  if (out.length !== expectUsed) throw new SifError(`the header says ${expectUsed} descriptors are in use, the table holds ${out.length}`);
  return out;
}

export type SystemPartition = { ok: true; partition: SifDescriptor } | { ok: false; applicable: boolean; reason: string };

/**
 * The partition a container runs from: the primary system partition (or, in files without one, the only system
 * partition), and whether Berth can read it. `applicable` false: the SIF holds no container file system at all
 * (a data container); true with `ok` false: it has one Berth cannot read (encrypted, ext3, OCI blobs), a gap.
 */
export function findSystemPartition(descriptors: SifDescriptor[]): SystemPartition {
  const partitions = descriptors.filter((d) => d.dataType === SIF_DATA.partition);
  const primary = partitions.filter((d) => d.partType === SIF_PART.primarySystem);
  const system = partitions.filter((d) => d.partType === SIF_PART.system);
  if (primary.length > 1) return { ok: false, applicable: true, reason: `the SIF has ${primary.length} primary system partitions` };
  const pick = primary[0] ?? (system.length === 1 ? system[0] : undefined);
  if (!pick) {
    if (system.length > 1) return { ok: false, applicable: true, reason: `the SIF has ${system.length} system partitions and none is marked primary` };
    if (descriptors.some((d) => d.dataType === SIF_DATA.ociBlob || d.dataType === SIF_DATA.ociRootIndex))
      return { ok: false, applicable: true, reason: 'an OCI-SIF (the image is stored as OCI blobs inside the SIF): not read' };
    return { ok: false, applicable: false, reason: 'the SIF holds no system partition (no container file system): nothing to scan' };
  }
  if (pick.fsType === SIF_FS.encryptedSquashfs) return { ok: false, applicable: true, reason: `the system partition (object ${pick.id}) is an encrypted squashfs: not read` };
  if (pick.fsType !== SIF_FS.squashfs) return { ok: false, applicable: true, reason: `the system partition (object ${pick.id}) has file system type ${pick.fsType}, not squashfs: not read` };
  if (pick.size < 96) return { ok: false, applicable: true, reason: `the system partition (object ${pick.id}) is ${pick.size} bytes, too small for a squashfs` };
  return { ok: true, partition: pick };
}
