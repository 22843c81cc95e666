import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { parseDpkgStatus } from '../../src/scanner/inventory.js';
import { mergeLayers, readLayer } from '../../src/scanner/layer-walker.js';
import { mergeAliases, osEcosystems, type Finding } from '../../src/scanner/matcher.js';
import { FrameChecker } from '../../src/scanner/zstd.js';
import { tarLayer } from '../helpers/oci.js';

/** Compresses with Debian's `zstd` binary (the reference encoder), with extra arguments. */
const zstd = (data: Buffer, ...args: string[]): Buffer => {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
};

const STATUS = (state: string, name = `pkg-${state}`) => `Package: ${name}\nStatus: install ok ${state}\nArchitecture: amd64\nVersion: 1.0-1\n`;

describe('dpkg states', () => {
  it('counts every state whose files are on disk, and skips only not-installed and config-files', () => {
    const states = ['installed', 'unpacked', 'half-configured', 'half-installed', 'triggers-awaited', 'triggers-pending', 'not-installed', 'config-files'];
    const text = [
      ...states.map((s) => STATUS(s)),
      'Package: held\nStatus: hold ok installed\nVersion: 2\n',
      'Package: removing\nStatus: deinstall ok installed\nVersion: 3\n',
      'Package: purged\nStatus: purge ok not-installed\nVersion: 4\n',
      'Package: nostatus\nVersion: 5\n',
    ].join('\n');
    const names = parseDpkgStatus(text, 'var/lib/dpkg/status').map((p) => p.name);
    assert.deepEqual(names, ['pkg-installed', 'pkg-unpacked', 'pkg-half-configured', 'pkg-half-installed', 'pkg-triggers-awaited', 'pkg-triggers-pending', 'held', 'removing']);
    // distroless status.d files carry no Status: they are installed
    assert.deepEqual(
      parseDpkgStatus('Package: libc6\nVersion: 2.36-9\n', 'var/lib/dpkg/status.d/libc6', false).map((p) => p.name),
      ['libc6'],
    );
    assert.deepEqual(parseDpkgStatus(STATUS('config-files', 'x'), 'var/lib/dpkg/status.d/x', false), []);
  });
});

// Both decoders: the zstd program (Debian's zstd package, when it can be started) and fzstd, the fallback.
for (const [decoder, opts] of [
  ['the zstd program', { zstd: 'zstd' }],
  ['fzstd', { zstd: null }],
] as const) {
  describe(`zstd layers (${decoder})`, () => {
    const files = { 'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.1\n', 'lib/apk/db/installed': 'P:busybox\nV:1.36.1-r5\no:busybox\n\n', 'usr/bin/blob': Buffer.alloc(300_000, 7) };

    it('reads a layer compressed by the zstd tool exactly as the gzip one', async () => {
      const raw = await tarLayer(files);
      const z = await readLayer(Readable.from([zstd(raw)]), opts);
      const g = await readLayer(Readable.from([zlib.gzipSync(raw)]));
      assert.deepEqual(z.gaps, []);
      assert.deepEqual(z.files, g.files);
      assert.equal(z.bytes, raw.length);
      assert.equal(z.files['lib/apk/db/installed']?.packages?.[0]?.name, 'busybox');
      // streamed in small chunks, at a high level with checksums, and as several frames back to back
      const chunks = (b: Buffer, n: number) => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
      const hi = await readLayer(Readable.from(chunks(zstd(raw, '-19', '--check'), 7)), opts);
      assert.deepEqual(hi.files, g.files);
      const half = Math.floor(raw.length / 2);
      const multi = Buffer.concat([zstd(raw.subarray(0, half)), zstd(raw.subarray(half))]);
      const m = await readLayer(Readable.from(chunks(multi, 4096)), opts);
      assert.deepEqual(m.gaps, []);
      assert.deepEqual(m.files, g.files);
    });

    it('refuses frames that need a window over the limit, and corrupt or truncated data, as layer gaps', async () => {
      const raw = await tarLayer(files);
      // piped input of unknown size keeps the 2^27-byte window --long=27 asks for: over Berth's 64 MiB
      const long = await readLayer(Readable.from([zstd(raw, '--long=27')]), opts);
      assert.equal(long.gaps.length, 1);
      assert.match(long.gaps[0]!.reason, /134217728-byte window, over the 67108864-byte limit/);
      assert.deepEqual(long.files, {});
      const checker = new FrameChecker(1 << 20);
      assert.throws(() => checker.push(zstd(raw)), /2097152-byte window/);
      const z = zstd(raw);
      const truncated = await readLayer(Readable.from([z.subarray(0, Math.floor(z.length / 2))]), opts);
      assert.equal(truncated.gaps.length, 1);
      assert.equal(truncated.gaps[0]!.path, null);
      const corrupt = Buffer.from(z);
      for (let i = 20; i < corrupt.length; i += 97) corrupt[i] = corrupt[i]! ^ 0xff;
      const c = await readLayer(Readable.from([corrupt]), opts);
      assert.ok(
        c.gaps.some((g) => g.path === null),
        JSON.stringify(c.gaps),
      );
    });

    it('stops a zstd bomb at the expansion ratio before decompressing it', async () => {
      const raw = await tarLayer({ zeros: Buffer.alloc(64 * 1024 * 1024) });
      const bomb = zstd(raw, '-19');
      assert.ok(bomb.length < 64 * 1024, `${bomb.length}`);
      const before = process.memoryUsage().rss;
      const inv = await readLayer(Readable.from([bomb]), { ...opts, maxRatio: 50, ratioSlack: 1024 * 1024 });
      assert.ok(
        inv.gaps.some((g) => g.path === null && /capped.*expands more than 50:1/.test(g.reason)),
        JSON.stringify(inv.gaps),
      );
      assert.ok(inv.bytes < 8 * 1024 * 1024, `read ${inv.bytes} bytes`);
      assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024);
    });
  });
}

describe('zstd decoder choice', () => {
  const files = { 'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.1\n', 'lib/apk/db/installed': 'P:busybox\nV:1.36.1-r5\no:busybox\n\n' };

  it('decodes with the zstd program when it starts, with fzstd when it cannot, and names a failed program as a layer gap', async () => {
    const raw = await tarLayer(files);
    const z = zstd(raw);
    const want = (await readLayer(Readable.from([zlib.gzipSync(raw)]))).files;
    // a wrapper that records its run: the default path is the program, not a silent fallback
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-zstd-'));
    try {
      const mark = path.join(dir, 'ran');
      const wrapper = path.join(dir, 'zstd');
      fs.writeFileSync(wrapper, `#!/bin/sh\necho "$@" > '${mark}'\nexec zstd "$@"\n`, { mode: 0o755 });
      const viaProgram = await readLayer(Readable.from([z]), { zstd: wrapper });
      assert.deepEqual(viaProgram.gaps, []);
      assert.deepEqual(viaProgram.files, want);
      assert.match(fs.readFileSync(mark, 'utf8'), /-d -c -q --memory=64MiB/);
      fs.rmSync(mark);
      // not installed: fzstd reads the same layer
      const fallback = await readLayer(Readable.from([z]), { zstd: path.join(dir, 'missing', 'zstd') });
      assert.deepEqual(fallback.gaps, []);
      assert.deepEqual(fallback.files, want);
      // a program that fails without reading: the layer is a gap, not an empty inventory that looks clean
      const failing = await readLayer(Readable.from([z]), { zstd: 'false' });
      assert.equal(failing.gaps.length, 1);
      assert.equal(failing.gaps[0]!.path, null);
      assert.match(failing.gaps[0]!.reason, /could not be read to the end: corrupt zstd data/);
      assert.deepEqual(failing.files, {});
      // a layer capped half-way stops the program: no zstd is left running
      const bomb = zstd(await tarLayer({ zeros: Buffer.alloc(64 * 1024 * 1024) }), '-19');
      const capped = await readLayer(Readable.from([bomb]), { zstd: wrapper, maxRatio: 50, ratioSlack: 1024 * 1024 });
      assert.match(capped.gaps[0]!.reason, /capped/);
      assert.ok(fs.existsSync(mark), 'the program decoded the capped layer');
      const children = () => fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
      for (let i = 0; i < 50 && children(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(children(), '', 'no child process left');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gzip bombs and layer budgets', () => {
  it('caps a gzip layer at the expansion ratio and at its byte budget', async () => {
    const raw = await tarLayer({ zeros: Buffer.alloc(32 * 1024 * 1024) });
    const gz = zlib.gzipSync(raw, { level: 9 });
    const ratio = await readLayer(Readable.from([gz]), { maxRatio: 100, ratioSlack: 1024 * 1024 });
    assert.ok(
      ratio.gaps.some((g) => /capped.*expands more than 100:1/.test(g.reason)),
      JSON.stringify(ratio.gaps),
    );
    assert.ok(ratio.bytes < 4 * 1024 * 1024);
    const bytes = await readLayer(Readable.from([gz]), { maxBytes: 2 * 1024 * 1024 });
    assert.ok(bytes.gaps.some((g) => /capped.*exceeds 2097152 uncompressed bytes/.test(g.reason)));
    // known blob size: the cap is ratio × size, however the content is ordered
    const sized = await readLayer(Readable.from([gz]), { maxRatio: 100, ratioSlack: 1024 * 1024, compressedSize: gz.length });
    assert.ok(
      sized.gaps.some((g) => new RegExp(`expands more than 100:1 \\(\\d+ bytes from ${gz.length}\\)`).test(g.reason)),
      JSON.stringify(sized.gaps),
    );
    // an ordinary layer passes: a compressible file first, then incompressible bytes
    const layer = zlib.gzipSync(await tarLayer({ 'usr/share/zeros': Buffer.alloc(2 * 1024 * 1024), 'usr/bin/x': randomBytes(200_000), 'etc/os-release': 'ID=debian\nVERSION_ID=12\n' }));
    const ok = await readLayer(Readable.from([layer]), { maxRatio: 20, ratioSlack: 64 * 1024, compressedSize: layer.length });
    assert.deepEqual(ok.gaps, []);
    assert.equal(ok.files['etc/os-release']?.os?.id, 'debian');
  });

  it('names bzip2 and xz layers as unsupported gaps', async () => {
    const bz = await readLayer(Readable.from([Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(600)])]));
    assert.match(bz.gaps[0]!.reason, /bzip2/);
    const xz = await readLayer(Readable.from([Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), Buffer.alloc(600)])]));
    assert.match(xz.gaps[0]!.reason, /xz/);
  });
});

describe('gaps across layers', () => {
  it('keeps a layer gap with its digest, and drops a file gap a later layer replaces', async () => {
    const big = { 'var/lib/dpkg/status': Buffer.alloc(2, 0x41), 'app/node_modules/huge/package.json': Buffer.alloc(2 * 1024 * 1024, 0x41) };
    const l1 = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ 'etc/os-release': 'ID=debian\nVERSION_ID=12\n', ...big }))]), { maxRatio: 1e6 });
    assert.deepEqual(
      l1.gaps.map((g) => g.path),
      ['app/node_modules/huge/package.json'],
    );
    const l2 = await readLayer(
      Readable.from([zlib.gzipSync(await tarLayer({ 'var/lib/dpkg/status': STATUS('installed', 'libc6'), 'app/node_modules/huge/package.json': '{"name":"huge","version":"1.0.0"}' }))]),
    );
    const broken = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ x: 'y' })).subarray(0, 30)]));
    const digests = ['sha256:' + 'a'.repeat(64), 'sha256:' + 'b'.repeat(64), 'sha256:' + 'c'.repeat(64)];
    assert.deepEqual(mergeLayers([l1], digests).gaps, [{ layer: digests[0], path: 'app/node_modules/huge/package.json', reason: l1.gaps[0]!.reason }]);
    const merged = mergeLayers([l1, l2, broken], digests);
    assert.deepEqual(merged.packages.map((p) => p.name).sort(), ['huge', 'libc6']);
    assert.equal(merged.gaps.length, 1);
    assert.equal(merged.gaps[0]!.layer, digests[2]);
    assert.equal(merged.gaps[0]!.path, undefined);
    // a whiteout of the unreadable file also ends its gap
    const wh = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ 'app/node_modules/.wh.huge': '' }))]));
    assert.deepEqual(mergeLayers([l1, wh]).gaps, []);
  });

  it('a symbolic link where a package database lives is a gap', async () => {
    // decided for the image, where the link's target would be (a lower or the same layer): here it is not a read file
    const inv = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ 'lib/apk/db/installed': { symlink: '/elsewhere' } }))]));
    assert.deepEqual(
      mergeLayers([inv]).gaps.map((g) => g.path),
      ['lib/apk/db/installed'],
    );
  });
});

const finding = (id: string, aliases: string[], severity: Finding['severity'], fixed: string | null, pkg = 'pkg'): Finding => ({
  advisoryId: id,
  aliases,
  package: pkg,
  type: 'pypi',
  installedVersion: '1.0',
  fixedVersion: fixed,
  severity,
  cvssScore: null,
  cvssVector: null,
  summary: id,
  links: [],
  path: 'x',
});

describe('one finding per vulnerability', () => {
  it('merges advisories that alias each other, transitively, per installed package', () => {
    const out = mergeAliases(
      [
        finding('GHSA-aaaa', ['CVE-2024-1'], 'medium', '1.2'),
        finding('PYSEC-2024-1', ['CVE-2024-1', 'GHSA-aaaa'], 'high', '1.10'),
        finding('OSV-X', ['PYSEC-2024-1'], 'low', '1.3'),
        finding('GHSA-other', ['CVE-2024-2'], 'low', '2.0'),
        finding('GHSA-aaaa', ['CVE-2024-1'], 'medium', '1.2', 'another-package'),
      ],
      () => (a, b) => {
        const n = (v: string) => v.split('.').map(Number);
        const [x, y] = [n(a), n(b)];
        return x[0]! - y[0]! || x[1]! - y[1]!;
      },
    );
    assert.equal(out.length, 3);
    const m = out.find((f) => f.package === 'pkg' && f.advisoryId === 'PYSEC-2024-1')!;
    assert.equal(m.severity, 'high', 'the highest severity');
    assert.deepEqual([...m.advisories!].sort(), ['GHSA-aaaa', 'OSV-X', 'PYSEC-2024-1']);
    assert.deepEqual([...m.aliases].sort(), ['CVE-2024-1', 'GHSA-aaaa', 'OSV-X']);
    assert.equal(m.fixedVersion, '1.10', 'the fix that fixes all of them, in the ecosystem order');
    assert.ok(out.some((f) => f.advisoryId === 'GHSA-other' && !f.advisories));
    const nofix = mergeAliases([finding('A', ['CVE-1'], 'low', '1.0'), finding('B', ['CVE-1'], 'low', null)]);
    assert.equal(nofix.length, 1);
    assert.equal(nofix[0]!.fixedVersion, null, 'no fix when one of them has none');
  });
});

describe('distribution ecosystems', () => {
  it('names the OSV ecosystems of Debian, Ubuntu, Alpine, Wolfi and Chainguard releases', () => {
    assert.deepEqual(osEcosystems({ id: 'debian', versionId: '12' }), ['Debian:12']);
    assert.deepEqual(osEcosystems({ id: 'debian', versionId: '', codename: 'trixie' }), ['Debian:13']);
    assert.deepEqual(osEcosystems({ id: 'debian', versionId: '', codename: 'nonesuch' }), []);
    assert.deepEqual(osEcosystems({ id: 'ubuntu', versionId: '22.04' }), ['Ubuntu:22.04', 'Ubuntu:22.04:LTS', 'Ubuntu:Pro:22.04:LTS']);
    assert.deepEqual(osEcosystems({ id: 'alpine', versionId: '3.19.1' }), ['Alpine:v3.19']);
    assert.deepEqual(osEcosystems({ id: 'wolfi', versionId: '20230201' }), ['Wolfi']);
    assert.deepEqual(osEcosystems({ id: 'chainguard', versionId: '' }), ['Chainguard', 'Wolfi']);
    assert.deepEqual(osEcosystems({ id: 'plan9', versionId: '4' }), []);
  });
});
