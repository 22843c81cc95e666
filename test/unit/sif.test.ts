import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { descriptorTableRange, findSystemPartition, MAX_DESCRIPTORS, parseSifDescriptors, parseSifHeader, SIF_DATA, SifError, type SifDescriptor } from '../../src/scanner/sif.js';
import { readSif, sifWants } from '../../src/scanner/sif-reader.js';
import { buildSif, DATA, FS, PART, sifOf, squashfs } from '../helpers/sif.js';

const parse = (sif: Buffer) => {
  const h = parseSifHeader(sif.subarray(0, 128), sif.length);
  const r = descriptorTableRange(h);
  return { header: h, descriptors: parseSifDescriptors(sif.subarray(r.offset, r.offset + r.length), h, sif.length) };
};
const partition = (fsType: number, partType: number, size = 4096) => ({ dataType: DATA.partition, data: Buffer.alloc(size, 1), fsType, partType });
const deffile = { dataType: DATA.deffile, data: Buffer.from('Bootstrap: docker\n') };
/** A copy of `sif` with `fn` applied. */
const patched = (sif: Buffer, fn: (b: Buffer) => void) => {
  const b = Buffer.from(sif);
  fn(b);
  return b;
};
const D = (i: number) => 128 + i * 585; // descriptor i in buildSif's layout

describe('SIF header and descriptors', () => {
  const good = buildSif([deffile, partition(FS.squashfs, PART.primarySystem)]);

  it('parses a well-formed SIF 2 file (and SIF 1) as the specification lays it out', () => {
    const { header, descriptors } = parse(good);
    assert.equal(header.version, '02');
    assert.equal(header.arch, '02');
    assert.equal(header.descriptorsTotal, 48);
    assert.equal(header.descriptorsFree, 46);
    assert.equal(header.descriptorsOffset, 128);
    assert.equal(header.dataOffset, 28672); // 128 + 48 × 585, aligned to 4096
    assert.deepEqual(
      descriptors.map((d) => [d.dataType, d.id, d.offset, d.size]),
      [
        [SIF_DATA.deffile, 1, 28672, 18],
        [SIF_DATA.partition, 2, 32768, 4096],
      ],
    );
    assert.deepEqual([descriptors[1]!.fsType, descriptors[1]!.partType, descriptors[1]!.partArch], [FS.squashfs, PART.primarySystem, '02']);
    assert.equal(parse(buildSif([deffile], { version: '01' })).header.version, '01');
  });

  const malformed: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /shorter than the 128-byte SIF header/],
    ['shorter than a header', good.subarray(0, 100), /shorter than the 128-byte/],
    ['a tar file', Buffer.concat([Buffer.from('etc/os-release'), Buffer.alloc(4000)]), /no SIF_MAGIC/],
    ['magic without its NUL', patched(good, (b) => b.write('SIF_MAGICX', 32, 'latin1')), /no SIF_MAGIC/],
    ['an unknown version', patched(good, (b) => b.write('99\0', 42, 'latin1')), /version "99" is not one Berth reads/],
    ['no descriptors', patched(good, (b) => b.writeBigInt64LE(0n, 88)), /lists no descriptors/],
    ['2^40 descriptors', patched(good, (b) => b.writeBigInt64LE(2n ** 40n, 88)), new RegExp(`more than the ${MAX_DESCRIPTORS}`)],
    ['a negative descriptor count', patched(good, (b) => b.writeBigInt64LE(-1n, 88)), /descriptor count -1 is out of range/],
    ['an offset past 2^53', patched(good, (b) => b.writeBigInt64LE(2n ** 60n, 96)), /descriptor offset \d+ is out of range/],
    ['more free than total', patched(good, (b) => b.writeBigInt64LE(49n, 80)), /49 free of 48/],
    ['a table overlapping the header', patched(good, (b) => b.writeBigInt64LE(64n, 96)), /overlaps the header/],
    ['truncated in the descriptor table', good.subarray(0, 128 + 585 * 10), /ends past the end of the file .*truncated/],
    ['a data section past the end', patched(good, (b) => b.writeBigInt64LE(BigInt(good.length), 120)), /data section .* ends past the end/],
  ];
  for (const [name, bytes, message] of malformed) {
    it(`refuses a header with ${name}`, () => {
      assert.throws(
        () => parseSifHeader(bytes.subarray(0, 128), bytes.length),
        (err: Error) => err instanceof SifError && message.test(err.message),
      );
    });
  }

  const badDescriptors: [string, (b: Buffer) => void, RegExp][] = [
    ['a "used" flag that is not a boolean', (b) => (b[D(1) + 4] = 7), /descriptor 1: "used" flag is 7/],
    ['an object past the end of the file', (b) => b.writeBigInt64LE(BigInt(good.length), D(1) + 25), /data object 2 .* ends past the end of the file/],
    ['an object offset past 2^53', (b) => b.writeBigInt64LE(2n ** 62n, D(1) + 17), /descriptor 1 offset \d+ is out of range/],
    ['a negative object size', (b) => b.writeBigInt64LE(-5n, D(1) + 25), /descriptor 1 size -5 is out of range/],
    ['an object inside the header', (b) => b.writeBigInt64LE(16n, D(1) + 17), /data object 2 at byte 16 overlaps the header/],
    ['two objects with one id', (b) => b.writeUInt32LE(1, D(1) + 5), /two descriptors share the id 1/],
    ['a used count the header does not state', (b) => b.writeBigInt64LE(47n, 80), /header says 1 descriptors are in use, the table holds 2/],
  ];
  for (const [name, fn, message] of badDescriptors) {
    it(`refuses a descriptor table with ${name}`, () => {
      assert.throws(
        () => parse(patched(good, fn)),
        (err: Error) => err instanceof SifError && message.test(err.message),
      );
    });
  }

  it('finds the primary system partition, or says why there is none to read', () => {
    const find = (objects: Parameters<typeof buildSif>[0]) => findSystemPartition(parse(buildSif(objects)).descriptors);
    const ok = find([deffile, partition(FS.squashfs, PART.data), partition(FS.squashfs, PART.primarySystem)]);
    assert.ok(ok.ok);
    assert.equal((ok as { partition: SifDescriptor }).partition.id, 3);
    // SIF files written before "primary" existed have one system partition
    assert.ok(find([partition(FS.squashfs, PART.system)]).ok);
    const cases: [string, Parameters<typeof buildSif>[0], boolean, RegExp][] = [
      ['a data container', [deffile, partition(FS.squashfs, PART.data)], false, /no system partition .*nothing to scan/],
      ['only a definition file', [deffile], false, /no system partition/],
      ['an OCI-SIF', [{ dataType: DATA.ociBlob, data: Buffer.from('{}') }], true, /OCI-SIF/],
      ['an encrypted squashfs', [partition(FS.encryptedSquashfs, PART.primarySystem)], true, /encrypted squashfs: not read/],
      ['an ext3 partition', [partition(FS.ext3, PART.primarySystem)], true, /file system type 2, not squashfs/],
      ['two primary partitions', [partition(FS.squashfs, PART.primarySystem), partition(FS.squashfs, PART.primarySystem)], true, /2 primary system partitions/],
      ['two system partitions, none primary', [partition(FS.squashfs, PART.system), partition(FS.squashfs, PART.system)], true, /none is marked primary/],
      ['a partition too small for a squashfs', [partition(FS.squashfs, PART.primarySystem, 10)], true, /too small for a squashfs/],
    ];
    for (const [name, objects, applicable, reason] of cases) {
      const r = find(objects);
      assert.equal(r.ok, false, name);
      if (r.ok) continue;
      assert.equal(r.applicable, applicable, name);
      assert.match(r.reason, reason, name);
    }
  });

  it('wants package databases, manifests, executables and Java archives, nothing else', () => {
    assert.ok(sifWants('var/lib/dpkg/status', 0o644, 100));
    assert.ok(sifWants('usr/bin/app', 0o755, 5000));
    assert.ok(sifWants('opt/app/lib/app.jar', 0o644, 5000));
    assert.ok(!sifWants('usr/bin/tiny', 0o755, 100));
    assert.ok(!sifWants('usr/share/doc/readme', 0o644, 5000));
  });
});

describe('reading a SIF file (unsquashfs)', () => {
  let dir: string;
  let n = 0;
  const status = fs.readFileSync(path.resolve('test', 'fixtures', 'sif', 'debian-9-stretch_status'));
  const rootfs = { 'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 9 (stretch)"\nID=debian\nVERSION_ID="9"\n', 'var/lib/dpkg/status': status };
  const write = (b: Buffer) => {
    const f = path.join(dir, `t${n++}.sif`);
    fs.writeFileSync(f, b);
    return f;
  };
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sif-test-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the package database and os-release from the system partition, with no gap', async () => {
    const r = await readSif(write(sifOf(path.join(dir, 'b'), { ...rootfs, 'usr/share/doc/big': Buffer.alloc(1 << 20) })));
    assert.ok(r.applicable);
    assert.deepEqual(r.inventory.gaps, []);
    assert.deepEqual(Object.keys(r.inventory.files).sort(), ['etc/os-release', 'var/lib/dpkg/status']);
    const pkgs = r.inventory.files['var/lib/dpkg/status']!.packages!;
    assert.equal(pkgs.length, 74);
    assert.ok(pkgs.some((p) => p.name === 'dpkg' && p.version === '1.18.25'));
    assert.equal(r.inventory.files['etc/os-release']!.os!.versionId, '9');
    // only what the extractors want was extracted: not the 1 MiB document
    assert.ok(r.inventory.bytes < status.length + 64 * 1024, `${r.inventory.bytes} bytes read`);
  });

  it('a truncated SIF is a gap of the whole file', async () => {
    const sif = sifOf(path.join(dir, 'b'), rootfs);
    const r = await readSif(write(sif.subarray(0, sif.length - 5000)));
    assert.ok(r.applicable);
    assert.equal(r.inventory.gaps.length, 1);
    assert.equal(r.inventory.gaps[0]!.path, null);
    assert.match(r.inventory.gaps[0]!.reason, /SIF could not be read: .*truncated/);
    assert.deepEqual(r.inventory.files, {});
  });

  it('a corrupted squashfs is a gap, never an empty clean inventory', async () => {
    const sif = sifOf(path.join(dir, 'b'), rootfs);
    const { descriptors } = parse(sif);
    const part = descriptors.find((d) => d.dataType === SIF_DATA.partition)!;
    // garbage after the squashfs magic: the superblock and tables are unreadable
    const bad = patched(sif, (b) => b.fill(0xa5, part.offset + 4, part.offset + part.size));
    const r = await readSif(write(bad));
    assert.ok(r.applicable);
    assert.ok(r.inventory.gaps.length >= 1);
    assert.equal(r.inventory.gaps[0]!.path, null);
    assert.match(r.inventory.gaps[0]!.reason, /squashfs could not be read/);
    // no squashfs magic at all
    const noMagic = await readSif(write(patched(sif, (b) => b.write('xxxx', part.offset, 'latin1'))));
    assert.match(noMagic.inventory.gaps[0]!.reason, /does not start with a squashfs superblock/);
  });

  it('a SIF without a system partition is not applicable, with the reason', async () => {
    const r = await readSif(write(buildSif([deffile, { dataType: DATA.partition, data: squashfs(path.join(dir, 'b'), rootfs), fsType: FS.squashfs, partType: PART.data }])));
    assert.equal(r.applicable, false);
    assert.match(r.reason!, /no system partition/);
    assert.deepEqual(r.inventory.gaps, []);
  });

  it('a missing unsquashfs is a gap of the whole file', async () => {
    const r = await readSif(write(sifOf(path.join(dir, 'b'), rootfs)), { unsquashfs: path.join(dir, 'no-such-unsquashfs') });
    assert.equal(r.inventory.gaps.length, 1);
    assert.match(r.inventory.gaps[0]!.reason, /not installed/);
  });

  it('a file name with a line break that imitates a package database line makes that path a gap', async () => {
    const fake = 'x\n-rw-r--r-- 0/0                       3 2026-11-29 20:56 squashfs-root/var/lib/dpkg/status';
    const r = await readSif(write(sifOf(path.join(dir, 'b'), { ...rootfs, [fake]: 'y' })));
    assert.equal(r.inventory.files['var/lib/dpkg/status'], undefined);
    assert.deepEqual(
      r.inventory.gaps.map((g) => g.path),
      ['var/lib/dpkg/status'],
    );
    assert.match(r.inventory.gaps[0]!.reason, /listed more than once/);
  });

  it('package databases over their size cap and files past the extraction budget are gaps', async () => {
    const big = await readSif(write(sifOf(path.join(dir, 'b'), { ...rootfs, 'etc/os-release': `ID=debian\n${'#'.repeat(70 * 1024)}\n` })));
    assert.deepEqual(
      big.inventory.gaps.map((g) => [g.path, /over the 65536-byte limit/.test(g.reason)]),
      [['etc/os-release', true]],
    );
    const capped = await readSif(write(sifOf(path.join(dir, 'b'), rootfs)), { maxBytes: 1000 });
    assert.ok(capped.inventory.gaps.some((g) => g.path === null && /capped after/.test(g.reason)));
    assert.ok(capped.inventory.gaps.some((g) => g.path === 'var/lib/dpkg/status'));
    assert.equal(capped.inventory.files['var/lib/dpkg/status'], undefined);
  });

  it('reads executables (Go build information) whatever the bytes of their names', async () => {
    const bin = fs.readFileSync(path.resolve('test', 'fixtures', 'pkgdb-real', 'go-binary', 'binary_with_module_replacement-linux-amd64'));
    const name = 'usr/local/bin/caf\xe9'; // Latin-1 é: not UTF-8
    const sif = buildSif([{ dataType: DATA.partition, data: squashfs(path.join(dir, 'b'), { ...rootfs, [name]: bin }, [name], true), fsType: FS.squashfs, partType: PART.primarySystem }]);
    const r = await readSif(write(sif));
    assert.deepEqual(r.inventory.gaps, []);
    const go = Object.entries(r.inventory.files).filter(([, f]) => f.kind === 'go-binary');
    assert.equal(go.length, 1);
    assert.equal(go[0]![0], 'usr/local/bin/caf\ufffd');
    assert.ok(go[0]![1].packages!.some((p) => p.name === 'stdlib' && p.version === '1.22.0'));
  });

  it('hands Java archives, gemspecs and cargo-auditable binaries to their extractors', async () => {
    const real = (...p: string[]) => fs.readFileSync(path.resolve('test', 'fixtures', 'pkgdb-real', ...p));
    const files = {
      'opt/app/lib/app.jar': real('java', 'example-java-app-maven-0.1.0.jar'),
      'usr/local/bundle/specifications/rake-13.0.3.gemspec': real('gemspec', 'rake-13.0.3.gemspec'),
      'usr/local/bin/uses_serde_json': real('rust-cargo-auditable', 'uses_serde_json'),
    };
    const r = await readSif(write(sifOf(path.join(dir, 'b'), files, ['usr/local/bin/uses_serde_json'])));
    assert.deepEqual(r.inventory.gaps, []);
    const kinds = Object.fromEntries(Object.entries(r.inventory.files).map(([p, f]) => [p, f.kind]));
    assert.equal(kinds['opt/app/lib/app.jar'], 'java-archive');
    assert.equal(kinds['usr/local/bundle/specifications/rake-13.0.3.gemspec'], 'gemspec');
    assert.ok(r.inventory.files['opt/app/lib/app.jar']!.packages!.some((p) => p.name === 'org.anchore:example-java-app-maven' && p.version === '0.1.0'));
    assert.ok(
      r.inventory.files['usr/local/bin/uses_serde_json']?.packages?.some((p) => p.name === 'serde_json'),
      JSON.stringify(kinds),
    );
  });

  it('extracts in batches: every batch is read', async () => {
    const files: Record<string, string | Buffer> = { ...rootfs };
    for (let i = 0; i < 5; i++) files[`app/node_modules/p${i}/package.json`] = JSON.stringify({ name: `p${i}`, version: `1.0.${i}` });
    const r = await readSif(write(sifOf(path.join(dir, 'b'), files)), { batchBytes: 1 });
    assert.deepEqual(r.inventory.gaps, []);
    assert.equal(Object.values(r.inventory.files).filter((f) => f.kind === 'npm').length, 5);
  });
});
