import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage, type OciImageOptions } from '../helpers/oci.js';
import { eventually, fails, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { ALPINE_EXPECTED, ALPINE_LAYERS, ALPINE_RECORDS, DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

const REAL = path.resolve('test', 'fixtures', 'osv-real');
const real = (f: string) => JSON.parse(fs.readFileSync(path.join(REAL, f), 'utf8')) as unknown;

type FindingJson = { id: string; package: string; severity: string; aliases: string[]; advisories: string[]; fixed_version: string | null };
type Report = { status: string; completeness: string; gaps: { layer?: string; path?: string; reason: string }[]; problems: string[]; items: FindingJson[]; summary: Record<string, number> };

const zstdLayers: OciImageOptions = {
  compress: (raw) => {
    // Debian's zstd tool, the reference encoder
    const r = spawnSync('zstd', ['-q', '-c', '-19'], { input: raw });
    assert.equal(r.status, 0);
    return { data: r.stdout, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' };
  },
};

const stanza = (name: string, version: string, source?: string) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n${source ? `Source: ${source}\n` : ''}`;

for (const dialect of testDialects()) {
  describe(`scanner coverage: complete/incomplete reports, zstd, distributions, merged aliases [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    const img = (layers: Parameters<typeof ociImage>[1], opts: OciImageOptions = {}) => ociImage(path.join(b.config.dataDir, `cov-${n++}`), layers, 't', {}, opts);
    const report = (repo: string) =>
      eventually(async () => {
        const res = await b.api(`/api/v1/projects/cov/repositories/${repo}/artifacts/t/vulnerabilities?limit=100`, { auth: ADMIN });
        if (res.status !== 200) return null;
        const v = (await res.json()) as Report;
        return v.status === 'success' ? v : null;
      }, 90_000).catch(async (err) => {
        const res = await b.api(`/api/v1/projects/cov/repositories/${repo}/artifacts/t/vulnerabilities?limit=100`, { auth: ADMIN });
        console.log('REPORT', res.status, (await res.text()).slice(0, 1500));
        throw err;
      });
    const pushScanned = async (repo: string, layers: Parameters<typeof ociImage>[1], opts: OciImageOptions = {}) => {
      await push(await img(layers, opts), `docker://${b.host}/cov/${repo}:t`, ADMIN);
      return report(repo);
    };
    const pull = (ref: string) => skopeo('inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/cov/${ref}`);
    const pullErr = (ref: string) => fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/cov/${ref}`]);
    const setProject = async (json: Record<string, unknown>) => assert.equal((await b.api('/api/v1/projects/cov', { method: 'PUT', auth: ADMIN, json })).status, 200);

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'cov' } });
      const records = [
        ...DEBIAN_RECORDS,
        ...ALPINE_RECORDS,
        real('Ubuntu/UBUNTU-CVE-2016-2781.json'),
        real('Ubuntu/UBUNTU-CVE-2021-3782.json'),
        real('Ubuntu/USN-5614-1.json'),
        real('Chainguard/CGA-224q-ccj5-2p53.json'),
        real('Alpine/ALPINE-CVE-2025-26519.json'),
      ];
      const res = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: records });
      assert.equal((await res.json()).invalid, 0);
    });
    after(async () => b?.destroy());

    it('reads a zstd layer as it reads gzip: the same findings, complete', async () => {
      const v = await pushScanned('alp-zstd', ALPINE_LAYERS, zstdLayers);
      // the real ALPINE-CVE-2025-26519 covers musl on v3.19 too
      assert.deepEqual(v.items.map((f) => `${f.id} ${f.package}`).sort(), [...ALPINE_EXPECTED, 'ALPINE-CVE-2025-26519 musl'].sort());
      assert.equal(v.completeness, 'complete');
      assert.deepEqual(v.gaps, []);
      const art = await (await b.api('/api/v1/projects/cov/repositories/alp-zstd/artifacts/t', { auth: ADMIN })).json();
      assert.equal(art.scan_status, 'complete');
    });

    it('calls a report with an unreadable layer incomplete, names the layer, and the gate blocks it like an unscanned image', async () => {
      const v = await pushScanned('broken', [...ALPINE_LAYERS, { 'usr/bin/tool': 'x' }], {
        compress: (raw, i) => (i === 0 ? zstdLayers.compress!(raw, i) : { data: Buffer.concat([Buffer.from('BZh91AY&SY'), raw]), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }),
      });
      assert.equal(v.completeness, 'incomplete');
      assert.equal(v.gaps.length, 1);
      assert.match(v.gaps[0]!.layer!, /^sha256:[a-f0-9]{64}$/);
      assert.match(v.gaps[0]!.reason, /bzip2/);
      const m = JSON.parse((await skopeo('inspect', '--raw', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/cov/broken:t`)).stdout);
      assert.equal(v.gaps[0]!.layer, m.layers[1].digest);
      const list = await (await b.api('/api/v1/projects/cov/repositories/broken/artifacts', { auth: ADMIN })).json();
      assert.equal((list.items ?? list)[0].scan_status, 'incomplete');
      // a clean, complete image passes the same gate
      const clean = await pushScanned('clean', [{ 'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.1\n', 'lib/apk/db/installed': 'P:busybox\nV:1.36.1-r15\no:busybox\n\n' }]);
      assert.equal(clean.completeness, 'complete');
      await setProject({ prevent_vulnerable: true, severity: 'critical' });
      try {
        assert.match(await pullErr('broken:t'), /could not be scanned completely/);
        await pull('clean:t');
        await setProject({ unscanned_policy: 'allow' });
        await pull('broken:t');
      } finally {
        await setProject({ prevent_vulnerable: false, unscanned_policy: 'block' });
      }
    });

    it('calls a report incomplete when the OS or a language ecosystem has no advisories loaded', async () => {
      const v = await pushScanned('noadv', [
        {
          'etc/os-release': 'ID=alpine\nVERSION_ID=3.10.9\n',
          'lib/apk/db/installed': 'P:musl\nV:1.1.22-r3\no:musl\n\n',
          'app/node_modules/leftpad/package.json': '{"name":"leftpad","version":"1.0.0"}',
        },
      ]);
      assert.equal(v.completeness, 'incomplete');
      assert.ok(v.gaps.some((g) => /no advisories loaded for Alpine:v3\.10/.test(g.reason)), JSON.stringify(v.gaps));
      assert.ok(!v.gaps.some((g) => /npm/.test(g.reason)), 'npm advisories are loaded');
      const unknown = await pushScanned('unknownos', [{ 'etc/os-release': 'ID=plan9\nVERSION_ID=4\n', 'var/lib/dpkg/status': stanza('libc6', '2.36-9') }]);
      assert.ok(unknown.gaps.some((g) => /plan9 4: no advisory source/.test(g.reason)), JSON.stringify(unknown.gaps));
      const pypiOnly = await pushScanned('pyonly', [{ 'usr/lib/python3/site-packages/requests-2.19.0.dist-info/METADATA': 'Name: requests\nVersion: 2.19.0\n' }]);
      assert.equal(pypiOnly.completeness, 'complete', 'PyPI advisories are loaded; no OS packages');
    });

    it('says not_applicable for an artifact that is not an image', async () => {
      const v = await pushScanned('chart', [{ 'chart/Chart.yaml': 'name: x\n' }], { configMediaType: 'application/vnd.cncf.helm.config.v1+json' });
      assert.equal(v.completeness, 'not_applicable');
      assert.deepEqual(v.items, []);
    });

    it('matches Debian testing/sid (no VERSION_ID) against the newest release loaded, and says so', async () => {
      const layers = [{ ...DEBIAN_LAYERS[0]!, 'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux forky/sid"\nNAME="Debian GNU/Linux"\nVERSION_CODENAME=forky\nID=debian\n', 'etc/debian_version': 'forky/sid\n' }, DEBIAN_LAYERS[1]!];
      const v = await pushScanned('sid', layers);
      const foo = v.items.find((f) => f.id === 'DEBIAN-CVE-2024-0001');
      assert.equal(foo?.severity, 'critical');
      assert.ok(v.problems.some((p) => /forky.*matched against Debian:12, the newest release with advisories loaded/.test(p)), JSON.stringify(v.problems));
      assert.equal(v.completeness, 'complete');
    });

    it('finds Ubuntu 22.04 vulnerabilities from real records, one finding per vulnerability across aliasing advisories', async () => {
      const v = await pushScanned('ubuntu', [
        {
          'etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n',
          'var/lib/dpkg/status': [stanza('coreutils', '8.32-4.1ubuntu1.2'), stanza('libwayland-client0', '1.20.0-1', 'wayland'), stanza('libwayland-server0', '1.20.0-1ubuntu0.1', 'wayland')].join('\n'),
        },
      ]);
      assert.equal(v.completeness, 'complete');
      assert.deepEqual(v.items.map((f) => f.package).sort(), ['coreutils', 'libwayland-client0']);
      const wl = v.items.filter((f) => f.package === 'libwayland-client0');
      assert.equal(wl.length, 1, 'USN-5614-1 and UBUNTU-CVE-2021-3782 are one vulnerability');
      assert.deepEqual([...wl[0]!.advisories].sort(), ['UBUNTU-CVE-2021-3782', 'USN-5614-1']);
      assert.ok(wl[0]!.aliases.includes('CVE-2021-3782'));
      assert.equal(wl[0]!.fixed_version, '1.20.0-1ubuntu0.1');
      assert.ok(v.items.some((f) => f.package === 'coreutils' && f.id === 'UBUNTU-CVE-2016-2781'));
      assert.equal(v.items.length, 2, 'the fixed libwayland-server0 is not affected');
      assert.equal(v.summary.total, 2);
      const csv = await (await b.api('/api/v1/projects/cov/repositories/ubuntu/artifacts/t/vulnerabilities?format=csv', { auth: ADMIN })).text();
      assert.equal(csv.trim().split('\r\n').length, 3, 'CSV lists each vulnerability once');
    });

    it('finds Wolfi packages with the real Chainguard advisory, matched on the origin', async () => {
      const v = await pushScanned('wolfi', [
        {
          'etc/os-release': 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\nHOME_URL="https://wolfi.dev"\n',
          'lib/apk/db/installed': 'P:haproxy-3.1\nV:3.1.6-r0\nA:x86_64\no:haproxy-3.1\n\nP:haproxy-3.0\nV:3.0.10-r0\nA:x86_64\no:haproxy-3.0\n\n',
        },
      ]);
      assert.deepEqual(v.items.map((f) => `${f.id} ${f.package} ${f.fixed_version}`), ['CGA-224q-ccj5-2p53 haproxy-3.1 3.1.7-r0']);
      assert.equal(v.completeness, 'complete');
    });

    it('finds musl on Alpine 3.18 with the real ALPINE-CVE record, in a zstd layer', async () => {
      const v = await pushScanned('alpine318', [{ 'etc/os-release': 'ID=alpine\nVERSION_ID=3.18.9\n', 'lib/apk/db/installed': 'P:musl\nV:1.2.4-r2\no:musl\n\n' }], zstdLayers);
      // and the synthetic ALPINE-CVE-2024-0105 (musl on v3.18, fixed in 9.9-r0)
      assert.deepEqual(v.items.map((f) => `${f.id} ${f.package}`).sort(), ['ALPINE-CVE-2024-0105 musl', 'ALPINE-CVE-2025-26519 musl']);
    });
  });
}
