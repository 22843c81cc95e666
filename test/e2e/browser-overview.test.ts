import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { buildImage, eventually, fails, push, startInstance, type Instance } from '../helpers/registry.js';
import { DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Pushes an OCI index over two pushed images through /v2 and returns its digest. */
async function pushIndex(b: Instance, repo: string, tags: [string, string], indexTag: string): Promise<{ index: string; children: string[] }> {
  const tok = (await (await b.api(`/service/token?service=berth-registry&scope=repository:${repo}:pull,push`, { auth: ADMIN })).json()).token as string;
  const auth = { authorization: `Bearer ${tok}` };
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const manifests = [];
  for (const [i, t] of tags.entries()) {
    const res = await fetch(`${b.url}/v2/${repo}/manifests/${t}`, { headers: { ...auth, accept: OCI_MANIFEST } });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    manifests.push({ mediaType: OCI_MANIFEST, digest: res.headers.get('docker-content-digest')!, size: body.length, platform: platforms[i] });
  }
  const put = await fetch(`${b.url}/v2/${repo}/manifests/${indexTag}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': OCI_INDEX },
    body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
  });
  assert.equal(put.status, 201, await put.text());
  return { index: put.headers.get('docker-content-digest')!, children: manifests.map((m) => m.digest) };
}

// What a user sees at a glance: severity overview on the dashboard, index children under their index, scan-all.
for (const dialect of testDialects()) {
  describe(`browser: overview pages [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    let multi: { index: string; children: string[] };

    before(async () => {
      b = await startInstance(dialect);
      for (const name of ['vis', 'hidden']) assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name, public: name === 'vis' } })).status, 201);
      await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS });
      await push(await ociImage(path.join(b.config.dataDir, 'img'), DEBIAN_LAYERS, '1'), `docker://${b.host}/vis/app:1`, ADMIN);
      await push(await ociImage(path.join(b.config.dataDir, 'img2'), DEBIAN_LAYERS, '1'), `docker://${b.host}/hidden/app:1`, ADMIN);
      await push(await buildImage({ 'etc/a': 'amd' }), `docker://${b.host}/vis/multi:amd64`, ADMIN);
      await push(await buildImage({ 'etc/a': 'arm' }), `docker://${b.host}/vis/multi:arm64`, ADMIN);
      multi = await pushIndex(b, 'vis/multi', ['amd64', 'arm64'], 'v1');
      await eventually(async () => {
        const rows = await b.db.selectFrom('scan_reports').select('status').execute();
        return rows.length >= 2 && rows.filter((r) => r.status === 'success').length >= 2;
      }, 60_000);
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('dialog', (d) => void d.accept());
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('the dashboard charts the severities of every image the user can see, and only those', async () => {
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
      await page.goto(`${b.url}/`);
      await page.screenshot({ path: shot(`dashboard-severity-admin-${dialect}`), fullPage: true });
      const adminLabel = (await page.locator('#severity-overview svg.sevcols').getAttribute('aria-label')) ?? '';
      const critical = (l: string) => Number(/(\d+) critical/.exec(l)?.[1]);
      assert.ok(critical(adminLabel) >= 2, adminLabel);
      await page.context().clearCookies();
      const dev: [string, string] = ['devon', 'devon-pw-1234'];
      assert.equal((await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: dev[0], password: dev[1] } })).status, 201);
      await signIn(page, b.url, dev[0], dev[1]);
      await page.goto(`${b.url}/`);
      await page.screenshot({ path: shot(`dashboard-severity-user-${dialect}`), fullPage: true });
      const userLabel = (await page.locator('#severity-overview svg.sevcols').getAttribute('aria-label')) ?? '';
      assert.equal(critical(userLabel) * 2, critical(adminLabel), `the hidden project's image is not counted: ${userLabel} vs ${adminLabel}`);
      assert.match((await page.textContent('#severity-overview')) ?? '', /of \d+ images scanned/);
      await page.context().clearCookies();
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });

    it('lists index children under their index, not as rows of their own', async () => {
      await page.goto(`${b.url}/projects/vis/repositories/multi`);
      await page.screenshot({ path: shot(`index-children-${dialect}`), fullPage: true });
      const top = await page.locator('table.grid tbody tr:not(.index-child)').count();
      assert.equal(top, 1, 'only the index is a top-level row');
      const kids = page.locator(`tr.index-child[data-parent="${multi.index}"]`);
      assert.equal(await kids.count(), 2);
      const text = (await kids.allTextContents()).join(' ');
      assert.ok(text.includes('linux/amd64') && text.includes('linux/arm64'), text);
      assert.ok(text.includes('amd64') && (await kids.locator('.badge').allTextContents()).includes('arm64'), 'a tagged child keeps its tag');
      assert.equal(await page.locator(`tr.index-child a[href$="${multi.children[0]}"]`).count(), 1);
    });

    it('says on the artifact and repository pages when the policy blocks a pull, and why, instead of a pull command', async () => {
      const appDigest = (await b.db.selectFrom('artifacts as a').innerJoin('repositories as r', 'r.id', 'a.repository_id').select('a.digest').where('r.name', '=', 'vis/app').executeTakeFirstOrThrow())
        .digest;
      await page.goto(`${b.url}/projects/vis/repositories/app/artifacts/${appDigest}`);
      assert.match((await page.textContent('dl.facts')) ?? '', /docker pull/, 'no policy: the pull command');
      assert.equal(await page.locator('.pull-blocked').count(), 0);
      assert.equal((await b.api('/api/v1/projects/vis', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: true, severity: 'high' } })).status, 200);
      try {
        await page.goto(`${b.url}/projects/vis/repositories/app/artifacts/${appDigest}`);
        await page.screenshot({ path: shot(`gate-artifact-${dialect}`), fullPage: true });
        const facts = (await page.textContent('dl.facts')) ?? '';
        assert.doesNotMatch(facts, /docker pull/);
        assert.match(facts, /pull blocked by policy/);
        assert.match(facts, /vulnerabilit(y|ies) at or above high \(CVE-/);
        // The same words /v2 answers with.
        const tok = (await (await b.api('/service/token?service=berth-registry&scope=repository:vis/app:pull', { auth: ADMIN })).json()).token as string;
        const refused = await fetch(`${b.url}/v2/vis/app/manifests/${appDigest}`, { headers: { authorization: `Bearer ${tok}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(refused.status, 412);
        const v2message = (await refused.json()).errors[0].message as string;
        assert.ok(facts.includes(v2message), `${facts} vs ${v2message}`);
        await page.goto(`${b.url}/projects/vis/repositories/app`);
        assert.equal(await page.locator('table.grid .pull-blocked').count(), 1);
        await page.goto(`${b.url}/projects/vis/repositories/multi`);
        assert.equal(await page.locator('table.grid .pull-blocked').count(), 0, 'clean images pass');
      } finally {
        await b.api('/api/v1/projects/vis', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: false } });
      }
    });

    it('during a rescan the Pull row says what the gate says ("being scanned"), and the command is back when the scan ends', async () => {
      // An image of its own (its refused pulls stay out of the other tests' access log), scanned clean on push.
      await push(await buildImage({ 'etc/rescan': 'x' }), `docker://${b.host}/vis/rescan:1`, ADMIN);
      const { id: artifactId, digest: child } = await eventually(
        () =>
          b.db
            .selectFrom('artifacts as a')
            .innerJoin('repositories as r', 'r.id', 'a.repository_id')
            .innerJoin('scan_reports as s', 's.artifact_id', 'a.id')
            .select(['a.id', 'a.digest'])
            .where('r.name', '=', 'vis/rescan')
            .where('s.status', '=', 'success')
            .executeTakeFirst(),
        60_000,
      );
      const v2 = async () => {
        const tok = (await (await b.api('/service/token?service=berth-registry&scope=repository:vis/rescan:pull', { auth: ADMIN })).json()).token as string;
        return fetch(`${b.url}/v2/vis/rescan/manifests/${child}`, { headers: { authorization: `Bearer ${tok}`, accept: OCI_MANIFEST } });
      };
      assert.equal((await b.api('/api/v1/projects/vis', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: true, severity: 'high' } })).status, 200);
      // The scan is held between "queued" and "done": the runner claims nothing until it starts again.
      await b.services.jobs.stop();
      try {
        await page.goto(`${b.url}/projects/vis/repositories/rescan/artifacts/${child}`);
        assert.equal(await page.locator('#artifact-pull code.pull').count(), 1, 'a clean image: the pull command');
        assert.match((await page.textContent('.pagehead h1')) ?? '', /^Projects \/ vis \/ rescan @ [0-9a-f]{12}$/, 'the breadcrumb starts at Projects, as the repository page does');
        assert.equal(await page.locator('.pagehead h1 a[href="/projects"]').count(), 1);
        assert.equal((await v2()).status, 200);
        await page.click('#scan-status button[type=submit]');
        await page.waitForSelector('#scan-status[hx-get]');
        const job = await b.db.selectFrom('jobs').select('id').where('type', '=', 'scan').where('status', '=', 'pending').orderBy('id', 'desc').executeTakeFirstOrThrow();
        // What the scan job does first when a worker takes it.
        await b.services.scans.markRunning(Number(artifactId), Number(job.id));
        const refused = await v2();
        assert.equal(refused.status, 412);
        const message = (await refused.json()).errors[0].message as string;
        assert.match(message, /is being scanned/);
        // The open page learns it from its scan-status poll, in the gate's words.
        await page.waitForSelector('#artifact-pull.pull-blocked', { timeout: 10_000 });
        const row = (await page.textContent('#artifact-pull')) ?? '';
        assert.ok(row.includes(message), `${row} vs ${message}`);
        assert.equal(await page.locator('#artifact-pull').count(), 1, 'the row is replaced, not added');
        await page.screenshot({ path: shot(`gate-rescanning-${dialect}`), fullPage: true });
      } finally {
        await b.services.jobs.start();
      }
      try {
        // The scan finishes: the page reloads with the command again, as /v2 serves the image again.
        await page.waitForSelector('#artifact-pull code.pull', { timeout: 60_000 });
        assert.equal((await v2()).status, 200);
      } finally {
        await b.api('/api/v1/projects/vis', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: false } });
      }
    });

    it('records every refused pull in the access log with its reason (UI and REST), and says "not scanned" for an unscanned image', async () => {
      // A project that gates pulls and does not scan on push: its new image has no report.
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gated' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects/gated', { method: 'PUT', auth: ADMIN, json: { auto_scan: false, prevent_vulnerable: true, severity: 'critical' } })).status, 200);
      await push(await buildImage({ 'etc/fresh': 'x' }), `docker://${b.host}/gated/fresh:1`, ADMIN);
      const digest = await eventually(async () => {
        const res = await b.api('/api/v1/projects/gated/repositories/fresh/artifacts', { auth: ADMIN });
        if (res.status !== 200) return null;
        const body = await res.json();
        const items = (Array.isArray(body) ? body : body.items) as { digest: string }[];
        return items[0]?.digest;
      });
      await page.goto(`${b.url}/projects/gated/repositories/fresh/artifacts/${digest}`);
      await page.screenshot({ path: shot(`gate-unscanned-${dialect}`), fullPage: true });
      const facts = (await page.textContent('dl.facts')) ?? '';
      assert.doesNotMatch(facts, /docker pull/);
      assert.match(facts, /pull blocked by policy.*has not been scanned yet/s);
      await page.goto(`${b.url}/projects/gated/repositories/fresh`);
      assert.equal(await page.locator('table.grid .pull-blocked').count(), 1);
      const repoRow = page.locator(`tr.artifact[data-digest="${digest}"]`);
      assert.match((await repoRow.locator('.blocked-why').textContent()) ?? '', /has not been scanned yet/, 'the reason is on the page, not only in a tooltip');
      assert.equal(await repoRow.locator('code.pull').count(), 0, 'no pull command for a blocked image');
      await page.screenshot({ path: shot(`gate-unscanned-repository-${dialect}`), fullPage: true });

      // A real client pulls and is refused; the access log has the attempt, the puller and the words it was given.
      const since = new Date().toISOString();
      const err = await fails('skopeo', [
        'copy',
        '--retry-times',
        '0',
        '--src-creds',
        ADMIN.join(':'),
        '--src-tls-verify=false',
        `docker://${b.host}/gated/fresh:1`,
        `oci:${b.config.dataDir}/refused:1`,
      ]);
      assert.match(err, /has not been scanned yet/);
      const rest = await (await b.api(`/api/v1/audit-logs?action=pull_refused&resource=gated/fresh&from=${encodeURIComponent(since)}`, { auth: ADMIN })).json();
      assert.ok(rest.items.length >= 1, JSON.stringify(rest));
      const row = rest.items[0];
      assert.equal(row.username, 'admin');
      assert.equal(row.resource_type, 'artifact');
      assert.equal(row.resource, `gated/fresh@${digest}`);
      assert.equal(row.detail.code, 'PROJECTPOLICYVIOLATION');
      assert.equal(row.detail.reference, '1');
      assert.match(row.detail.reason, /gated\/fresh@sha256:[0-9a-f]{12}… has not been scanned yet/);
      assert.ok(err.includes(row.detail.reason.slice(0, 60)), `${err} vs ${row.detail.reason}`);
      // The vulnerable image of the other test, refused through /v2 directly: a second reason.
      assert.equal((await b.api('/api/v1/projects/vis', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: true, severity: 'high' } })).status, 200);
      try {
        const tok = (await (await b.api('/service/token?service=berth-registry&scope=repository:vis/app:pull', { auth: ADMIN })).json()).token as string;
        assert.equal(
          (await fetch(`${b.url}/v2/vis/app/manifests/1`, { method: 'HEAD', headers: { authorization: `Bearer ${tok}`, accept: 'application/vnd.oci.image.manifest.v1+json' } })).status,
          412,
        );
      } finally {
        await b.api('/api/v1/projects/vis', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: false } });
      }
      const vuln = await (await b.api('/api/v1/audit-logs?action=pull_refused&resource=vis/app', { auth: ADMIN })).json();
      assert.ok(
        vuln.items.some((r: { detail: { reason: string; method: string } }) => r.detail.method === 'HEAD' && /vulnerabilit(y|ies) at or above high/.test(r.detail.reason)),
        JSON.stringify(vuln),
      );
      // Pulls that pass are not refusals.
      const clean = await (await b.api('/api/v1/audit-logs?action=pull_refused&resource=vis/multi', { auth: ADMIN })).json();
      assert.equal(clean.items.length, 0);

      await page.goto(`${b.url}/access-log?resource=gated%2Ffresh`);
      await page.screenshot({ path: shot(`access-log-refused-${dialect}`), fullPage: true });
      const refusedRows = page.locator('tr.audit-pull_refused');
      assert.ok((await refusedRows.count()) >= 1);
      const text = (await refusedRows.first().textContent()) ?? '';
      assert.match(text, /pull refused/);
      assert.match(text, /has not been scanned yet/);

      // In Chinese: the same reason in the reader's language, and still no pull command.
      const zh = await browser.newContext({ locale: 'zh-CN' });
      try {
        const p = await zh.newPage();
        await signIn(p, b.url, 'admin', ADMIN_PASSWORD);
        await p.goto(`${b.url}/projects/gated/repositories/fresh/artifacts/${digest}`);
        await p.screenshot({ path: shot(`gate-unscanned-zh-${dialect}`), fullPage: true });
        const zhFacts = (await p.textContent('dl.facts')) ?? '';
        assert.doesNotMatch(zhFacts, /docker pull/);
        assert.match(zhFacts, /策略阻止拉取.*gated\/fresh@sha256:[0-9a-f]{12}… 尚未扫描，而项目 gated 只提供扫描结果中没有严重及以上漏洞的镜像/s);
        await p.goto(`${b.url}/access-log?resource=gated%2Ffresh`);
        assert.match((await p.locator('tr.audit-pull_refused').first().textContent()) ?? '', /拉取被拒绝/);
      } finally {
        await zh.close();
      }
    });

    it('starts scan-all from a button; its scans name their artifact; it finishes when they have', async () => {
      await page.goto(`${b.url}/jobs`);
      await page.click('button:has-text("Scan all now")');
      await page.waitForURL(/\/jobs\/\d+$/);
      const id = Number(/\/jobs\/(\d+)$/.exec(page.url())![1]);
      await page.waitForSelector('#job-panel .state-success', { timeout: 60_000 });
      assert.match((await page.textContent('#job-panel')) ?? '', /(\d+) of \1 scans finished/);
      await page.goto(`${b.url}/jobs?type=scan`);
      await page.screenshot({ path: shot(`jobs-scan-subjects-${dialect}`), fullPage: true });
      const subjects = await page.locator('#jobs .subject a').allTextContents();
      assert.ok(
        subjects.some((s) => s.startsWith('vis/app@sha256:')),
        subjects.join(', '),
      );
      assert.ok(
        subjects.some((s) => s.startsWith(`vis/multi@${multi.index.slice(0, 19)}`)),
        subjects.join(', '),
      );
      const scanAll = await b.services.jobs.get(id);
      assert.equal(scanAll?.type, 'scan-all');
    });
  });
}
