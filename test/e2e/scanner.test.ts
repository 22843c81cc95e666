import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';
import { ALPINE_EXPECTED, ALPINE_LAYERS, ALPINE_RECORDS, DEBIAN_EXPECTED, DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

type FindingJson = { id: string; package: string; severity: string; fixed_version: string | null; cvss_score: number | null; aliases: string[]; summary: string | null; links: string[] };

for (const dialect of testDialects()) {
  describe(`scanner: OSV import, auto-scan on push, exact findings [${dialect}]`, () => {
    let b: Instance;
    let deb: string;
    let alp: string;
    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'scan' } });
    });
    after(async () => b?.destroy());

    const vulns = async (repo: string, ref: string, qs = '') => {
      const res = await b.api(`/api/v1/projects/scan/repositories/${repo}/artifacts/${ref}/vulnerabilities${qs}`, { auth: ADMIN });
      return res.status === 200 ? res.json() : null;
    };
    const waitReport = (repo: string, ref: string) =>
      eventually(async () => {
        const v = await vulns(repo, ref);
        return v && v.status === 'success' ? v : null;
      }, 30_000);

    it('imports OSV records as JSON (one or an array) and reports per-ecosystem counts', async () => {
      const one = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS[0] });
      assert.equal(one.status, 200);
      assert.equal((await one.json()).imported, 1);
      const res = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: [...DEBIAN_RECORDS, ...ALPINE_RECORDS] });
      const stats = await res.json();
      assert.equal(stats.unchanged, 1, 'same id and modified: unchanged');
      assert.equal(stats.imported, DEBIAN_RECORDS.length + ALPINE_RECORDS.length - 2, 'the withdrawn record is not stored');
      const st = await (await b.api('/api/v1/vulndb', { auth: ADMIN })).json();
      assert.ok(st.updated_at);
      const eco = Object.fromEntries(st.ecosystems.map((e: { ecosystem: string; advisories: number }) => [e.ecosystem, e.advisories]));
      assert.equal(eco['Debian:12'], 11);
      assert.equal(eco['Alpine:v3.19'], 4);
      assert.equal(eco.npm, 3);
      const bad = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: [{ id: '<bad id>', modified: 'x' }, { nothing: true }] });
      assert.equal((await bad.json()).invalid, 2);
      assert.equal((await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, body: 'x', headers: { 'content-type': 'text/plain' } })).status, 415);
      assert.equal((await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, body: 'PK\u0003\u0004garbage', headers: { 'content-type': 'application/zip' } })).status, 400);
    });

    it('scans a pushed Debian image automatically and finds exactly the expected advisories', async () => {
      const src = await ociImage(path.join(b.config.dataDir, 'img-deb'), DEBIAN_LAYERS, 'v1');
      await push(src, `docker://${b.host}/scan/deb:v1`, ADMIN);
      deb = await inspectDigest(`docker://${b.host}/scan/deb:v1`, ADMIN);
      const v = await waitReport('deb', 'v1');
      const got = v.items.map((f: FindingJson) => `${f.id} ${f.package}`).sort();
      assert.deepEqual(got, [...DEBIAN_EXPECTED].sort());
      assert.equal(v.os, 'Debian GNU/Linux 12 (bookworm)');
      const foo = v.items.find((f: FindingJson) => f.id === 'DEBIAN-CVE-2024-0001');
      assert.equal(foo.severity, 'critical', 'CVSS 9.8 is critical');
      assert.equal(foo.cvss_score, 9.8);
      assert.equal(foo.fixed_version, '1.2-4');
      assert.deepEqual(foo.aliases, ['CVE-2024-0001']);
      assert.equal(v.items.find((f: FindingJson) => f.id === 'DEBIAN-CVE-2024-0013').severity, 'medium', 'Debian urgency without CVSS');
      assert.equal(v.items.find((f: FindingJson) => f.id === 'GHSA-lodash-0001').severity, 'high');
      assert.equal(v.items.find((f: FindingJson) => f.id === 'DEBIAN-CVE-2024-0003').severity, 'unknown');
      assert.deepEqual(v.items.find((f: FindingJson) => f.id === 'GHSA-xss-0001').links, ['https://example.org/advisory'], 'only http(s) links survive');
      assert.equal(v.summary.critical, 1);
      assert.equal(v.summary.total, DEBIAN_EXPECTED.length);
    });

    it('filters findings by severity, package and fixability, and exports CSV', async () => {
      const high = await vulns('deb', 'v1', '?severity=high');
      assert.deepEqual(high.items.map((f: FindingJson) => f.severity).sort(), ['critical', 'high']);
      const pkg = await vulns('deb', 'v1', '?package=lodash');
      assert.equal(pkg.items.length, 2);
      const fixable = await vulns('deb', 'v1', '?fixable=true');
      assert.ok(fixable.items.every((f: FindingJson) => f.fixed_version));
      assert.ok(!fixable.items.some((f: FindingJson) => f.id === 'DEBIAN-CVE-2024-0004'), 'last_affected without a fix is not fixable');
      const csv = await (await b.api('/api/v1/projects/scan/repositories/deb/artifacts/v1/vulnerabilities?format=csv', { auth: ADMIN })).text();
      const lines = csv.trim().split('\r\n');
      assert.equal(lines[0], 'advisory,aliases,severity,cvss_score,package,type,installed_version,source,fixed_version,path,summary');
      assert.equal(lines.length, DEBIAN_EXPECTED.length + 1);
      assert.ok(!csv.includes(',=') && !csv.includes('\n='), 'no formula injection');
      assert.equal(await vulns('deb', 'v1', '?severity=extreme'), null);
    });

    it('exports a CycloneDX 1.5 SBOM with OS and language packages', async () => {
      const res = await b.api('/api/v1/projects/scan/repositories/deb/artifacts/v1/sbom', { auth: ADMIN });
      assert.equal(res.status, 200);
      const bom = await res.json();
      assert.equal(bom.bomFormat, 'CycloneDX');
      assert.equal(bom.specVersion, '1.5');
      assert.equal(bom.metadata.component.version, deb);
      const purls = bom.components.map((c: { purl: string }) => c.purl);
      assert.ok(purls.some((p: string) => p.startsWith('pkg:deb/debian/libfoo1@1.2-3%2Bb1')));
      assert.ok(purls.includes('pkg:npm/lodash@4.17.20'));
      assert.ok(purls.includes('pkg:pypi/requests@2.19.0'));
      assert.ok(!purls.some((p: string) => p.includes('minimist') || p.includes('urllib3') || p.includes('removedlater') || p.includes('gone')));
      assert.ok(bom.vulnerabilities.some((v: { id: string }) => v.id === 'DEBIAN-CVE-2024-0001'));
    });

    it('scans Alpine by origin with apk version rules, ignoring other releases', async () => {
      const src = await ociImage(path.join(b.config.dataDir, 'img-alp'), ALPINE_LAYERS, '3');
      await push(src, `docker://${b.host}/scan/alp:3`, ADMIN);
      alp = await inspectDigest(`docker://${b.host}/scan/alp:3`, ADMIN);
      const v = await waitReport('alp', '3');
      assert.deepEqual(v.items.map((f: FindingJson) => `${f.id} ${f.package}`).sort(), [...ALPINE_EXPECTED].sort());
      assert.ok(alp);
    });

    it('names the OS by its id alone when os-release has neither PRETTY_NAME nor VERSION_ID', async () => {
      const src = await ociImage(path.join(b.config.dataDir, 'img-bare'), [{ 'etc/os-release': 'NAME="BusyBox"\nID=busybox\n', 'bin/tool': 'x' }], '1');
      await push(src, `docker://${b.host}/scan/bare:1`, ADMIN);
      const v = await waitReport('bare', '1');
      assert.equal(v.os, 'busybox');
    });

    it('says 404 before a report exists, scans on request (202 + job), and rescans after an advisory update from the cache', async () => {
      await b.api('/api/v1/projects/scan', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
      const src = await ociImage(path.join(b.config.dataDir, 'img-manual'), DEBIAN_LAYERS, 'm');
      await push(src, `docker://${b.host}/scan/manual:m`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/scan/repositories/manual/artifacts/m', { auth: ADMIN })).status === 200);
      assert.equal((await b.api('/api/v1/projects/scan/repositories/manual/artifacts/m/vulnerabilities', { auth: ADMIN })).status, 404);
      assert.equal((await b.api('/api/v1/projects/scan/repositories/manual/artifacts/m/sbom', { auth: ADMIN })).status, 404);
      const job = await (await b.api('/api/v1/projects/scan/repositories/manual/artifacts/m/scan', { method: 'POST', auth: ADMIN })).json();
      assert.equal(job.type, 'scan');
      await waitReport('manual', 'm');
      const cached = await b.db.selectFrom('layer_inventories').select('digest').execute();
      assert.ok(cached.length >= 2);
      // a new advisory, then a rescan: only matching, from the cached layer inventories
      await b.api('/api/v1/vulndb/import', {
        method: 'POST',
        auth: ADMIN,
        json: { id: 'DEBIAN-CVE-2024-0099', modified: '2026-02-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name: 'verspkg2' }, versions: ['5.0-2'] }] },
      });
      const again = await (await b.api('/api/v1/projects/scan/repositories/manual/artifacts/m/scan', { method: 'POST', auth: ADMIN })).json();
      const done = await eventually(async () => {
        const j = await (await b.api(`/api/v1/jobs/${again.id}`, { auth: ADMIN })).json();
        return j.status === 'success' ? j : null;
      }, 30_000);
      const log = await (await b.api(`/api/v1/jobs/${done.id}/log`, { auth: ADMIN })).json();
      assert.ok(!log.items.some((l: { message: string }) => l.message.startsWith('read layer')), 'no layer was read again');
      const v = await waitReport('manual', 'm');
      assert.ok(v.items.some((f: FindingJson) => f.id === 'DEBIAN-CVE-2024-0099'));
      // withdrawing it removes it from the next report
      await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: { id: 'DEBIAN-CVE-2024-0099', modified: '2026-03-01T00:00:00Z', withdrawn: '2026-03-01T00:00:00Z' } });
      await b.api('/api/v1/projects/scan/repositories/manual/artifacts/m/scan', { method: 'POST', auth: ADMIN });
      await eventually(async () => {
        const r = await vulns('manual', 'm');
        return r?.status === 'success' && !r.items.some((f: FindingJson) => f.id === 'DEBIAN-CVE-2024-0099');
      }, 30_000);
    });

    it('imports a zip of OSV files and a multipart upload', async () => {
      const { zipSync } = await import('../helpers/zip.js');
      const zip = zipSync({
        'a/NPM-0001.json': JSON.stringify({ id: 'NPM-ZIP-0001', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'zipped' }, versions: ['1.0.0'] }] }),
        'README.txt': 'not json',
      });
      const res = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, body: new Uint8Array(zip), headers: { 'content-type': 'application/zip' } });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).imported, 1);
      const form = new FormData();
      form.set(
        'file',
        new Blob([JSON.stringify({ id: 'NPM-FORM-0001', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'formed' }, versions: ['1.0.0'] }] })]),
        'osv.json',
      );
      const up = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, body: form });
      assert.equal((await up.json()).imported, 1);
      const dev = await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'scanner-dev', password: 'scanner-dev-pw' } });
      assert.equal(dev.status, 201);
      assert.equal((await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ['scanner-dev', 'scanner-dev-pw'], json: [] })).status, 403);
      assert.ok(fs.existsSync(b.config.dataDir));
    });

    it('scan-all queues scans for every artifact', async () => {
      const res = await b.api('/api/v1/system/scan-all', { method: 'POST', auth: ADMIN });
      assert.equal(res.status, 202);
      const job = await res.json();
      const done = await eventually(async () => {
        const j = await (await b.api(`/api/v1/jobs/${job.id}`, { auth: ADMIN })).json();
        return j.status === 'success' ? j : null;
      }, 30_000);
      assert.equal(done.result.artifacts, 4, 'deb, alp, bare and the scan-on-request image');
    });
  });
}
