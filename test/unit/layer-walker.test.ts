import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { mergeLayers, normalizePath, readLayer, type LayerInventory } from '../../src/scanner/layer-walker.js';
import { parseApkInstalled, parseDpkgStatus, parseNpmPackageJson, parseOsRelease, parsePythonMetadata, relevantKind } from '../../src/scanner/inventory.js';
import { tarLayer, type Layer } from '../helpers/oci.js';

const read = async (layer: Layer, opts: { gzip?: boolean; limits?: { maxEntries: number; maxBytes: number } } = {}) => {
  const raw = await tarLayer(layer);
  return readLayer(Readable.from([opts.gzip === false ? raw : zlib.gzipSync(raw)]), opts.limits);
};

const DPKG = `Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.2-3)
Version: 1.2-3+b1
Description: a library
 continued description line

Package: gone
Status: deinstall ok config-files
Version: 1.0-1

Package: purged
Status: purge ok not-installed
Version: 1.0-1

Package: bar-bin
Status: install ok installed
Source: bar
Version: 1:2.0-1
`;

describe('inventory parsers', () => {
  it('reads installed dpkg stanzas with their source name and version', () => {
    const p = parseDpkgStatus(DPKG, 'var/lib/dpkg/status');
    assert.deepEqual(
      p.map((x) => [x.name, x.version, x.sourceName, x.sourceVersion]),
      [
        ['libfoo1', '1.2-3+b1', 'foo', '1.2-3'],
        ['bar-bin', '1:2.0-1', 'bar', '1:2.0-1'],
      ],
    );
  });
  it('reads apk records with the origin as source', () => {
    const p = parseApkInstalled('C:Q1x\nP:libcrypto3\nV:3.1.4-r5\no:openssl\nA:x86_64\n\nP:musl\nV:1.2.4_git20230717-r4\n', 'lib/apk/db/installed');
    assert.deepEqual(
      p.map((x) => [x.name, x.version, x.sourceName]),
      [
        ['libcrypto3', '3.1.4-r5', 'openssl'],
        ['musl', '1.2.4_git20230717-r4', 'musl'],
      ],
    );
  });
  it('reads npm and python metadata, and survives garbage', () => {
    assert.deepEqual(parseNpmPackageJson('{"name":"lodash","version":"4.17.20"}', 'x')[0]?.version, '4.17.20');
    assert.deepEqual(parseNpmPackageJson('{not json', 'x'), []);
    assert.deepEqual(parseNpmPackageJson('{"name":{"x":1},"version":"1"}', 'x'), []);
    assert.deepEqual(parsePythonMetadata('Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n\nName: ignored\n', 'x')[0]?.name, 'requests');
    assert.deepEqual(parsePythonMetadata('\u0000\u0001binary', 'x'), []);
    assert.deepEqual(parseDpkgStatus('\u0000'.repeat(1000), 'x'), []);
    assert.equal(parseOsRelease('ID="debian"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')?.versionId, '12');
  });
  it('knows which paths matter', () => {
    for (const [p, k] of [
      ['var/lib/dpkg/status', 'dpkg-status'],
      ['var/lib/dpkg/status.d/libc6', 'dpkg-status-d'],
      ['var/lib/dpkg/status.d/libc6.md5sums', null],
      ['usr/lib/node_modules/npm/node_modules/semver/package.json', 'npm'],
      ['app/node_modules/@scope/pkg/package.json', 'npm'],
      ['app/node_modules/pkg/lib/package.json', null],
      ['usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA', 'pypi'],
      ['usr/lib/python3/site-packages/six.egg-info/PKG-INFO', 'pypi'],
      ['etc/passwd', null],
    ] as const) {
      assert.equal(relevantKind(p), k, p);
    }
  });
});

describe('readLayer and mergeLayers', () => {
  it('normalises paths and refuses ones that climb out', () => {
    assert.equal(normalizePath('./var//lib/dpkg/status'), 'var/lib/dpkg/status');
    assert.equal(normalizePath('/etc/os-release'), 'etc/os-release');
    assert.equal(normalizePath('../../etc/passwd'), null);
    assert.equal(normalizePath('var/../../x'), null);
  });

  it('reads gzip and plain tar layers', async () => {
    for (const gzip of [true, false]) {
      const inv = await read({ './var/lib/dpkg/status': DPKG, 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'usr/bin/ls': 'x'.repeat(10_000) }, { gzip });
      assert.deepEqual(Object.keys(inv.files).sort(), ['etc/os-release', 'var/lib/dpkg/status']);
      assert.equal(inv.files['var/lib/dpkg/status']!.packages!.length, 2);
      assert.deepEqual(inv.problems, []);
    }
  });

  it('applies whiteouts and opaque directories across layers', async () => {
    const l1 = await read({
      'var/lib/dpkg/status.d/base': 'Package: base-files\nVersion: 12.4\n',
      'var/lib/dpkg/status.d/oldpkg': 'Package: oldpkg\nVersion: 1.0\n',
      'app/node_modules/minimist/package.json': '{"name":"minimist","version":"1.2.5"}',
      'app/node_modules/lodash/package.json': '{"name":"lodash","version":"4.17.20"}',
      'usr/lib/python3/site-packages/requests-2.19.0.dist-info/METADATA': 'Name: requests\nVersion: 2.19.0\n',
    });
    const l2 = await read({
      'var/lib/dpkg/status.d/.wh.oldpkg': '',
      'app/node_modules/.wh.minimist': '',
      'usr/lib/python3/site-packages/.wh..wh..opq': '',
      'usr/lib/python3/site-packages/urllib3-2.0.0.dist-info/METADATA': 'Name: urllib3\nVersion: 2.0.0\n',
    });
    const merged = mergeLayers([l1, l2]);
    assert.deepEqual(merged.packages.map((p) => `${p.type}:${p.name}`).sort(), ['deb:base-files', 'npm:lodash', 'pypi:urllib3']);
  });

  it('a later layer replacing the dpkg database drops packages removed there', async () => {
    const l1 = await read({ 'var/lib/dpkg/status': DPKG });
    const l2 = await read({
      'var/lib/dpkg/status': DPKG.split('\n\n')
        .filter((s) => !s.includes('bar-bin'))
        .join('\n\n'),
    });
    assert.deepEqual(
      mergeLayers([l1, l2]).packages.map((p) => p.name),
      ['libfoo1'],
    );
  });

  it('handles hostile layers without crashing and says what it refused', async () => {
    const inv = await read({
      '../../etc/os-release': 'ID=evil\n',
      '/../var/lib/dpkg/status': DPKG,
      'var/lib/dpkg/status': { symlink: '/etc/shadow' },
      'lib/apk/db/installed': { hardlink: 'etc/passwd' },
      'etc/os-release': 'ID=debian\nVERSION_ID=12\n',
    });
    assert.equal(inv.files['var/lib/dpkg/status']?.packages, undefined);
    assert.ok(inv.problems.some((p) => p.includes('leaves the root')));
    assert.equal(inv.files['etc/os-release']?.os?.id, 'debian');
    // links to files the scanner does not read are never followed: gaps of the image, no packages from them
    const image = mergeLayers([inv]);
    assert.deepEqual(image.packages, []);
    assert.ok(image.gaps.some((g) => g.path === 'var/lib/dpkg/status' && g.reason.includes('link to etc/shadow')));
    assert.ok(image.gaps.some((g) => g.path === 'lib/apk/db/installed' && g.reason.includes('link to etc/passwd')));
  });

  it("follows links between watched files as the image's root resolves them, across layers (Debian's etc/os-release)", async () => {
    const base = await read({ 'usr/lib/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': DPKG });
    const top = await read({ 'etc/os-release': { symlink: '../usr/lib/os-release' }, 'etc/lsb-release': { symlink: '/../../etc/os-release' } });
    const image = mergeLayers([base, top]);
    assert.deepEqual(image.gaps, []);
    assert.equal(image.os?.id, 'debian');
    assert.equal(image.os?.versionId, '12');
    // the packages stay where they are read: a link never counts them twice
    const linked = mergeLayers([base, await read({ 'var/lib/dpkg/status': { symlink: 'status' }, 'usr/lib/os-release': { symlink: '../../etc/nothing' } })]);
    assert.ok(linked.gaps.some((g) => g.path === 'usr/lib/os-release' && g.reason.includes('link to etc/nothing')));
    assert.ok(
      linked.gaps.some((g) => g.path === 'var/lib/dpkg/status'),
      'a link to itself is not followed',
    );
    // a link whose target a later layer removes is a gap again
    const removed = mergeLayers([base, top, await read({ 'usr/lib/.wh.os-release': '' })]);
    assert.equal(removed.os, null);
    assert.ok(removed.gaps.some((g) => g.path === 'etc/os-release'));
  });

  it('skips oversized package databases without reading them', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x41);
    const inv = await read({ 'app/node_modules/huge/package.json': big });
    assert.equal(Object.keys(inv.files).length, 0);
    assert.ok(inv.problems.some((p) => /over the \d+-byte limit/.test(p)));
  });

  it('stops a decompression bomb at the byte limit and a flood of entries at the entry limit', async () => {
    const bomb = await read({ 'a/zeros': Buffer.alloc(8 * 1024 * 1024) }, { limits: { maxEntries: 1000, maxBytes: 1024 * 1024 } });
    assert.ok(bomb.problems.some((p) => p.includes('uncompressed bytes')));
    const many: Layer = {};
    for (let i = 0; i < 200; i++) many[`f/${i}`] = 'x';
    const flood = await read(many, { limits: { maxEntries: 50, maxBytes: 1e9 } });
    assert.ok(flood.problems.some((p) => p.includes('more than 50 entries')));
  });

  it('reports truncated and non-tar data as problems', async () => {
    const raw = await tarLayer({ 'var/lib/dpkg/status': DPKG });
    const truncated = zlib.gzipSync(raw).subarray(0, 100);
    const t = await readLayer(Readable.from([truncated]));
    assert.ok(t.problems.length > 0);
    const garbage = await readLayer(Readable.from([Buffer.from('this is not a tar archive at all'.repeat(40))]));
    assert.ok(garbage.problems.length > 0);
    const zstd = await readLayer(Readable.from([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])]));
    assert.ok(zstd.problems.some((p) => p.includes('zstd')));
  });

  it('merges to no packages for an empty list', () => {
    const empty: LayerInventory[] = [];
    assert.deepEqual(mergeLayers(empty).packages, []);
  });
});
