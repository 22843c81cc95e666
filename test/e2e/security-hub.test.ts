import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, Browser } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, push, startInstance, type Instance } from '../helpers/registry.js';
import { DEBIAN_EXPECTED, DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

type Hit = { project: string; repository: string; digest: string; cve: string; package: string; version: string; severity: string; advisory_id: string };

for (const dialect of testDialects()) {
  describe(`security hub: findings across projects, scoped to what the caller can read [${dialect}]`, () => {
    let b: Instance;
    const alice: [string, string] = ['alice', 'alice-pw-123'];
    const outsider: [string, string] = ['outsider', 'outsider-pw-123'];
    let n = 0;
    const img = () => ociImage(path.join(b.config.dataDir, `img-${n++}`), DEBIAN_LAYERS, 't');
    const get = async (p: string, auth: [string, string] | null = ADMIN) => {
      const res = await b.api(p, auth ? { auth } : {});
      return { status: res.status, body: res.status === 200 ? await res.json() : await res.text() };
    };
    const scanned = (project: string, repo: string) =>
      eventually(
        async () => (await (await b.api(`/api/v1/projects/${project}/repositories/${repo}/artifacts/t/vulnerabilities`, { auth: ADMIN })).json().catch(() => null))?.status === 'success',
        60_000,
      );

    before(async () => {
      b = await startInstance(dialect);
      for (const u of [alice, outsider]) await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: u[0], password: u[1] } });
      await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS });
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: alice, json: { name: 'sec-a' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'sec-b' } })).status, 201);
      await push(await img(), `docker://${b.host}/sec-a/app:t`, ADMIN);
      await push(await img(), `docker://${b.host}/sec-b/app:t`, ADMIN);
      await push(await img(), `docker://${b.host}/sec-b/other:t`, ADMIN);
      // A reconciliation repairs a tag whose push notification raced the registry's tag write.
      const { id } = await (await b.api('/api/v1/system/reconcile', { method: 'POST', auth: ADMIN })).json();
      await eventually(async () => (await (await b.api(`/api/v1/jobs/${id}`, { auth: ADMIN })).json()).status === 'success', 30_000);
      await scanned('sec-a', 'app');
      await scanned('sec-b', 'app');
      await scanned('sec-b', 'other');
    });
    after(async () => b?.destroy());

    it('finds every artifact with a CVE across projects (system admin), by CVE or advisory id', async () => {
      const r = await get('/api/v1/vulnerabilities?cve=CVE-2024-0001');
      assert.equal(r.status, 200);
      assert.equal(r.body.total, 3);
      assert.deepEqual(r.body.items.map((h: Hit) => h.repository).sort(), ['sec-a/app', 'sec-b/app', 'sec-b/other']);
      for (const h of r.body.items as Hit[]) {
        assert.equal(h.package, 'libfoo1');
        assert.equal(h.advisory_id, 'DEBIAN-CVE-2024-0001');
        assert.equal(h.severity, 'critical');
        assert.match(h.digest, /^sha256:[a-f0-9]{64}$/);
      }
      assert.equal((await get('/api/v1/vulnerabilities?cve=cve-2024-0001')).body.total, 3, 'case-insensitive CVE ids');
      assert.equal((await get('/api/v1/vulnerabilities?cve=DEBIAN-CVE-2024-0001')).body.total, 3);
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2099-9999')).body.total, 0);
      const paged = await get('/api/v1/vulnerabilities?cve=CVE-2024-0001&limit=2&page=2');
      assert.equal(paged.body.items.length, 1);
      assert.equal(paged.body.total, 3);
    });

    it('hides projects the caller cannot read: members see their own, outsiders nothing, anonymous 401', async () => {
      const a = await get('/api/v1/vulnerabilities?cve=CVE-2024-0001', alice);
      assert.deepEqual(
        a.body.items.map((h: Hit) => h.project),
        ['sec-a'],
      );
      assert.equal(
        (await get('/api/v1/vulnerabilities?package=lodash', alice)).body.items.every((h: Hit) => h.project === 'sec-a'),
        true,
      );
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001', outsider)).body.total, 0);
      // a project the caller may not read answers as if it did not exist (no enumeration of private names)
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001&project=sec-b', alice)).status, 404);
      assert.equal((await get('/api/v1/vulnerabilities/summary?project=sec-b', alice)).status, 404);
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001&project=no-such-project', alice)).status, 404);
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001', null)).status, 401);
      assert.equal((await get('/api/v1/vulnerabilities/summary', null)).status, 401);
      const s = await get('/api/v1/vulnerabilities/summary', alice);
      assert.equal(s.body.scanned_artifacts, 1);
      assert.deepEqual(
        s.body.most_vulnerable.map((x: { project: string }) => x.project),
        ['sec-a'],
      );
      const o = await get('/api/v1/vulnerabilities/summary', outsider);
      assert.equal(o.body.scanned_artifacts, 0);
      assert.deepEqual(o.body.top_cves, []);
      // a public project is readable, so it shows
      await b.api('/api/v1/projects/sec-b', { method: 'PUT', auth: ADMIN, json: { public: true } });
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001', outsider)).body.total, 2);
      await b.api('/api/v1/projects/sec-b', { method: 'PUT', auth: ADMIN, json: { public: false } });
    });

    it('searches by package, version range and severity; refuses malformed queries', async () => {
      const lodash = await get('/api/v1/vulnerabilities?package=lodash&project=sec-a');
      assert.deepEqual([...new Set(lodash.body.items.map((h: Hit) => h.advisory_id))].sort(), ['GHSA-lodash-0001', 'GHSA-xss-0001']);
      assert.ok(lodash.body.items.every((h: Hit) => h.version === '4.17.20'));
      assert.equal((await get('/api/v1/vulnerabilities?package=lodash&project=sec-a&version=%3C4.17.21')).body.total, lodash.body.total);
      assert.equal((await get('/api/v1/vulnerabilities?package=lodash&project=sec-a&version=%3E%3D4.17.21')).body.total, 0);
      assert.equal((await get('/api/v1/vulnerabilities?package=lodash&project=sec-a&version=%3E%3D4.0,%3C4.17.21')).body.total, lodash.body.total);
      assert.equal((await get('/api/v1/vulnerabilities?package=libfoo1&version=%3E1.2-3')).body.total, 3, 'dpkg ordering: 1.2-3+b1 > 1.2-3');
      const crit = await get('/api/v1/vulnerabilities?severity=critical&project=sec-a');
      assert.ok(crit.body.total >= 1);
      assert.ok(crit.body.items.every((h: Hit) => h.severity === 'critical'));
      for (const qs of ['severity=bogus', 'version=1.0', 'package=lodash&version=%3E%3E1', 'cve=%3Cscript%3E', `package=${'x'.repeat(300)}`]) {
        assert.equal((await get(`/api/v1/vulnerabilities?${qs}`)).status, 400, qs);
      }
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001&project=nope')).status, 404);
    });

    it('summarises totals by severity, the most dangerous CVEs with affected artifacts, and the worst artifacts', async () => {
      const s = (await get('/api/v1/vulnerabilities/summary')).body;
      assert.equal(s.scanned_artifacts, 3);
      const one = (await get('/api/v1/projects/sec-a/repositories/app/artifacts/t/vulnerabilities')).body.summary;
      for (const sev of ['critical', 'high', 'medium', 'low', 'unknown']) assert.equal(s.totals[sev], 3 * (one[sev] ?? 0), sev);
      assert.equal(
        Object.values(s.totals as Record<string, number>).reduce((x, y) => x + y, 0),
        3 * DEBIAN_EXPECTED.length,
      );
      const top = s.top_cves[0];
      assert.equal(top.cve, 'CVE-2024-0001');
      assert.equal(top.severity, 'critical');
      assert.equal(top.artifacts, 3);
      assert.equal(s.most_vulnerable.length, 3);
      assert.equal(s.most_vulnerable[0].critical, one.critical);
      assert.equal((await get('/api/v1/vulnerabilities/summary?project=sec-a')).body.scanned_artifacts, 1);
    });

    it("forgets an artifact's findings when it is deleted", async () => {
      assert.equal((await b.api('/api/v1/projects/sec-b/repositories/other/artifacts/t', { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.equal((await get('/api/v1/vulnerabilities?cve=CVE-2024-0001')).body.total, 2);
    });

    it('the Security hub page shows the charts and the search, scoped to the viewer', async () => {
      const ui = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(b.url + p, init) } } as never);
      await ui.login(...alice);
      const html = await (await ui.fetch('/security')).text();
      assert.match(html, /Most dangerous CVEs/);
      assert.match(html, /<svg class="sevcols"/);
      assert.match(html, /CVE-2024-0001/);
      assert.doesNotMatch(html, /sec-b/);
      const found = await (await ui.fetch('/security?cve=CVE-2024-0001')).text();
      assert.match(found, /1 matching finding\b(?!s)/);
      assert.match(found, /sec-a\/app@/);
      const bad = await ui.fetch('/security?package=lodash&version=%3E%3E1');
      assert.equal(bad.status, 422);
    });
  });
}
