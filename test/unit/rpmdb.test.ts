import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { mergeLayers, readLayer } from '../../src/scanner/layer-walker.js';
import { parseRpmHeader, readRpmDb } from '../../src/scanner/rpmdb.js';
import { tarLayer } from '../helpers/oci.js';
import { buildRpmDb } from '../helpers/rpmdb.js';

const REAL = path.resolve('test', 'fixtures', 'pkgdb-real', 'rpm');

/** Reads a database from a private copy (SQLite may write -shm files next to what it opens). */
const readCopy = (file: string, dbPath: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rpmtest-'));
  try {
    const copy = path.join(dir, path.basename(file));
    fs.copyFileSync(file, copy);
    return readRpmDb(copy, dbPath);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

/** `packages.csv` as written inside the image by `rpm -qa --queryformat` (fields joined by ¶). */
const expected = (csv: string) =>
  fs
    .readFileSync(csv, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('¶'))
    .filter(([, name]) => name !== 'gpg-pubkey')
    .map(([epoch, name, version, release, arch, src]) => `${name} ${epoch && epoch !== '(none)' ? `${epoch}:` : ''}${version}-${release} ${arch} ${src}`)
    .sort();

describe('rpm databases', () => {
  it('reads the real Amazon Linux 2023 rpmdb.sqlite: every package of rpm -qa, with source rpm', () => {
    const pkgs = readCopy(path.join(REAL, 'amazonlinux-2023', 'rpmdb.sqlite'), 'var/lib/rpm/rpmdb.sqlite');
    const got = pkgs.map((p) => `${p.name} ${p.version} ${p.arch} ${p.sourceName}-${p.sourceVersion?.replace(/^\d+:/, '')}.src.rpm`).sort();
    assert.equal(got.length, 102);
    assert.deepEqual(got, expected(path.join(REAL, 'amazonlinux-2023', 'packages.csv')));
  });

  it('reads the real SLES 15.3 NDB Packages.db', () => {
    const pkgs = readCopy(path.join(REAL, 'sles-15.3-bci-minimal', 'Packages.db'), 'usr/lib/sysimage/rpm/Packages.db');
    const got = pkgs.map((p) => `${p.name} ${p.version} ${p.arch} ${p.sourceName}-${p.sourceVersion?.replace(/^\d+:/, '')}.src.rpm`).sort();
    assert.equal(got.length, 36);
    assert.deepEqual(got, expected(path.join(REAL, 'sles-15.3-bci-minimal', 'packages.csv')));
  });

  it('reads real Berkeley DB Packages files of RHEL 8 and CentOS 8, and a Rocky 9 SQLite one', () => {
    assert.deepEqual(
      readCopy(path.join(REAL, 'rhel-8-libuuid-only', 'Packages'), 'var/lib/rpm/Packages').map((p) => [p.name, p.version, p.arch, p.sourceName, p.sourceVersion]),
      [['libuuid', '2.32.1-42.el8_8', 'x86_64', 'util-linux', '2.32.1-42.el8_8']],
    );
    assert.deepEqual(
      readCopy(path.join(REAL, 'centos-8-bdb-htop-only', 'Packages'), 'var/lib/rpm/Packages').map((p) => `${p.name}-${p.version}.${p.arch}`),
      ['htop-3.2.1-1.el8.x86_64'],
    );
    assert.deepEqual(
      readCopy(path.join(REAL, 'rockylinux-9-sqlite-htop-only', 'rpmdb.sqlite'), 'var/lib/rpm/rpmdb.sqlite').map((p) => `${p.name}-${p.version}.${p.arch}`),
      ['htop-3.2.1-1.el9.x86_64'],
    );
  });

  it('reads an rpmdb written by rpm itself, with epochs, from a layer at each path distributions use', async () => {
    const db = buildRpmDb([
      { name: 'openssl', epoch: 1, version: '3.0.1', release: '1.el9' },
      { name: 'ruby', version: '3.0.4', release: '160.el9' },
    ]);
    for (const p of ['var/lib/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/rpmdb.sqlite']) {
      const inv = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ 'etc/os-release': 'ID="rocky"\nVERSION_ID="9.3"\n', [p]: db }))]));
      assert.deepEqual(inv.gaps, []);
      const merged = mergeLayers([inv]);
      assert.equal(merged.os?.id, 'rocky');
      assert.deepEqual(merged.packages.map((x) => `${x.type} ${x.name} ${x.version} ${x.path}`).sort(), [`rpm openssl 1:3.0.1-1.el9 ${p}`, `rpm ruby 3.0.4-160.el9 ${p}`]);
    }
    // NDB and BDB at their paths too
    const ndb = fs.readFileSync(path.join(REAL, 'sles-15.3-bci-minimal', 'Packages.db'));
    const bdb = fs.readFileSync(path.join(REAL, 'rhel-8-libuuid-only', 'Packages'));
    for (const [p, data, n] of [
      ['usr/lib/sysimage/rpm/Packages.db', ndb, 36],
      ['var/lib/rpm/Packages.db', ndb, 36],
      ['var/lib/rpm/Packages', bdb, 1],
      ['usr/lib/sysimage/rpm/Packages', bdb, 1],
    ] as const) {
      const inv = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ [p]: data }))]));
      assert.equal(inv.files[p]?.packages?.length, n, p);
    }
  });

  it('records a malformed or truncated database as a gap, never crashes', async () => {
    const db = fs.readFileSync(path.join(REAL, 'sles-15.3-bci-minimal', 'Packages.db'));
    const bdb = fs.readFileSync(path.join(REAL, 'rhel-8-libuuid-only', 'Packages'));
    for (const [p, data] of [
      ['var/lib/rpm/rpmdb.sqlite', Buffer.from('SQLite format 3\u0000garbage'.repeat(100))],
      ['usr/lib/sysimage/rpm/Packages.db', db.subarray(0, 5000)],
      ['var/lib/rpm/Packages', bdb.subarray(0, 9000)],
      ['var/lib/rpm/Packages', Buffer.alloc(100)],
    ] as const) {
      const inv = await readLayer(Readable.from([zlib.gzipSync(await tarLayer({ [p]: data }))]));
      assert.equal(inv.gaps.length, 1, `${p}: ${JSON.stringify(inv)}`);
      assert.equal(inv.gaps[0]!.path, p);
      assert.match(inv.gaps[0]!.reason, /rpm database could not be read/);
    }
    assert.equal(parseRpmHeader(Buffer.from([0, 0, 0, 200, 0, 0, 0, 0])), null);
    assert.equal(parseRpmHeader(Buffer.alloc(3)), null);
  });
});
