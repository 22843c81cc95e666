import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { elfWritableRanges, goStdlibVersion, GoBuildInfoScanner } from '../../src/scanner/gobinary.js';
import { readLayer } from '../../src/scanner/layer-walker.js';
import { tarLayer } from '../helpers/oci.js';

const GO = path.resolve('test', 'fixtures', 'pkgdb-real', 'go-binary');

describe('Go binaries', () => {
  it('reads the build info of a real go1.22 binary from a layer: stdlib, dependencies with replacements applied', async () => {
    const bin = fs.readFileSync(path.join(GO, 'binary_with_module_replacement-linux-amd64'));
    const inv = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ 'usr/local/bin/app': { file: bin, mode: 0o755 }, 'usr/share/doc/app.bin': bin }))]));
    assert.deepEqual(
      inv.files['usr/local/bin/app']?.packages?.map((p) => `${p.type} ${p.name} ${p.version}`),
      ['golang stdlib 1.22.0', 'golang github.com/golang/xerrors 0.0.0-20220907171357-04be3eba64a2'],
    );
    assert.equal(inv.files['usr/share/doc/app.bin'], undefined, 'files without an exec bit are not read');
    assert.deepEqual(inv.gaps, []);
  });

  it('finds the build info however the binary is chunked', () => {
    const bin = fs.readFileSync(path.join(GO, 'binary_with_module_replacement-linux-amd64'));
    for (const size of [1000, 4096, 65536]) {
      const s = new GoBuildInfoScanner('x');
      for (let i = 0; i < bin.length && s.wanted; i += size) s.push(bin.subarray(i, i + size));
      const r = s.result();
      assert.equal(r.kind, 'packages', `chunks of ${size}`);
      assert.equal(r.kind === 'packages' && r.packages.length, 2);
    }
  });

  it('searches only the writable segments of an ELF file, and all of it when its program headers are out of reach', () => {
    const bin = fs.readFileSync(path.join(GO, 'binary_with_module_replacement-linux-amd64'));
    const magic = bin.indexOf(Buffer.from('\xff Go buildinf:', 'latin1'));
    const ranges = elfWritableRanges(bin);
    assert.ok(Array.isArray(ranges) && ranges.length === 1, JSON.stringify(ranges));
    const [start, end] = ranges[0]!;
    assert.ok(magic >= start && magic < end);
    assert.ok(end - start < bin.length / 10, 'most of the binary is code and read-only data, not searched');
    const scan = (b: Buffer) => {
      const s = new GoBuildInfoScanner('x');
      for (let i = 0; i < b.length && s.wanted; i += 65536) s.push(b.subarray(i, i + 65536));
      return s.result();
    };
    // the same bytes moved into the code segment are not build info
    const moved = Buffer.from(bin);
    bin.copy(moved, 0x2000, magic, magic + 0x300);
    moved.fill(0, magic, magic + 0x300);
    assert.equal(scan(moved).kind, 'none');
    // program headers said to lie past 64 KiB: the whole file is searched, the info is found where it is
    const far = Buffer.from(moved);
    far.writeBigUInt64LE(BigInt(bin.length), 32);
    const r = scan(far);
    assert.equal(r.kind === 'packages' && r.packages.length, 2);
  });

  it('names a pre-1.18 Go binary (pointer-format build info) as a gap, and ignores non-ELF executables', async () => {
    const old = fs.readFileSync(path.join(GO, 'trivy-test.elf'));
    const inv = await readLayer(
      Readable.from([zlib.gzipSync(await tarLayer({ 'app/old': { file: old, mode: 0o755 }, 'bin/script.sh': { file: `#!/bin/sh\n${'echo \xff Go buildinf:\n'.repeat(400)}`, mode: 0o755 } }))]),
    );
    assert.deepEqual(
      inv.gaps.map((g) => g.path),
      ['app/old'],
    );
    assert.match(inv.gaps[0]!.reason, /before Go 1\.18/);
    assert.equal(inv.files['bin/script.sh'], undefined);
  });

  it('turns Go versions into the semver OSV uses for stdlib', () => {
    assert.equal(goStdlibVersion('go1.22.0'), '1.22.0');
    assert.equal(goStdlibVersion('go1.20'), '1.20.0');
    assert.equal(goStdlibVersion('go1.21rc2'), '1.21.0-rc.2');
    assert.equal(goStdlibVersion('devel +abc'), null);
  });
});
