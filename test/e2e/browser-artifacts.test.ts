import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import fs from 'node:fs';
import { cosignSign, cosignSignature, cosignTag, helmChart, ociArtifact, plainImage, simpleSigningPayload, spdxReferrer, testKey, type BuiltArtifact } from '../helpers/artifacts.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { eventually, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { sifOf } from '../helpers/sif.js';

for (const dialect of testDialects()) {
  describe(`browser: artifact types, referrers, signed-by, not scannable, SIF reports [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    let n = 0;
    const errors: string[] = [];
    const pushed: Record<string, BuiltArtifact> = {};
    const dir = () => path.join(b.config.dataDir, `ui-${n++}`);
    const pushArtifact = async (built: BuiltArtifact, dest: string) => {
      await skopeo('copy', '--retry-times', '0', '--preserve-digests', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', built.ref, `docker://${b.host}/${dest}`);
      return built;
    };
    const api = (p: string) => b.api(`/api/v1/projects/ui/repositories/${p}`, { auth: ADMIN });

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'ui' } });
      const key = testKey('ec');
      assert.equal((await b.api('/api/v1/projects/ui', { method: 'PUT', auth: ADMIN, json: { signature_keys: [{ name: 'release-key', pem: key.pem }] } })).status, 200);
      pushed.image = await pushArtifact(ociArtifact(dir(), await plainImage(), 'v1'), 'ui/app:v1');
      pushed.sbom = await pushArtifact(ociArtifact(dir(), spdxReferrer(pushed.image), 'sbom'), 'ui/app:sbom');
      const payload = simpleSigningPayload(`${b.host}/ui/app`, pushed.image.digest);
      pushed.sig = await pushArtifact(ociArtifact(dir(), cosignSignature([{ payload, signature: cosignSign(payload, key.privateKey) }]), 'sig'), `ui/app:${cosignTag(pushed.image.digest)}`);
      pushed.chart = await pushArtifact(ociArtifact(dir(), helmChart('web', '1.2.0'), '1.2.0'), 'ui/charts/web:1.2.0');
      // a real SIF (Debian 9's dpkg database, dpkg 1.18.25) and the real advisory that affects it
      const fixture = (f: string) => fs.readFileSync(path.resolve('test', 'fixtures', 'sif', f));
      assert.equal((await (await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: [JSON.parse(fixture('DLA-3022-1.json').toString('utf8'))] })).json()).invalid, 0);
      const sif = sifOf(dir(), { 'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 9 (stretch)"\nID=debian\nVERSION_ID="9"\n', 'var/lib/dpkg/status': fixture('debian-9-stretch_status') });
      pushed.sif = await pushArtifact(
        ociArtifact(dir(), {
          config: { mediaType: 'application/vnd.sylabs.sif.config.v1+json', data: '{}' },
          layers: [{ mediaType: 'application/vnd.sylabs.sif.layer.v1.sif', data: sif, annotations: { 'org.opencontainers.image.title': 'lolcow.sif' } }],
        }),
        'ui/lolcow:latest',
      );
      await eventually(async () => {
        const img = await api(`app/artifacts/v1`);
        return img.status === 200 && (await img.json()).signed_by.includes('release-key');
      }, 30_000);
      // auto-scan is on: the chart's report says not_applicable, the SIF's is complete
      for (const [p, completeness] of [
        ['charts%2Fweb/artifacts/1.2.0', 'not_applicable'],
        ['lolcow/artifacts/latest', 'complete'],
      ]) {
        await eventually(async () => {
          const r = await api(`${p}/vulnerabilities`);
          return r.status === 200 && (await r.json()).completeness === completeness;
        }, 60_000);
      }
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('lists referrers under their subject with type badges, pull commands and a signed-by badge', async () => {
      await page.goto(`${b.url}/projects/ui/repositories/app`);
      const subject = page.locator(`tr.artifact[data-digest="${pushed.image!.digest}"]`);
      assert.equal(await subject.count(), 1);
      assert.match((await subject.locator('.badge-type').textContent()) ?? '', /^image$/);
      assert.match((await subject.locator('.badge-signed').textContent()) ?? '', /signed by release-key/);
      assert.equal(await subject.locator('code.pull').textContent(), `docker pull ${b.host}/ui/app:v1`);
      // the SBOM and the signature are nested right under it, not listed as artifacts of their own
      for (const [k, type] of [
        ['sbom', 'sbom'],
        ['sig', 'signature'],
      ] as const) {
        const row = page.locator(`tr.referrer[data-digest="${pushed[k]!.digest}"]`);
        assert.equal(await row.count(), 1, k);
        assert.equal(await row.getAttribute('data-type'), type);
        assert.equal(await page.locator(`tr.artifact[data-digest="${pushed[k]!.digest}"]`).count(), 0);
        assert.match((await row.textContent()) ?? '', /not scannable/);
      }
      const order = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-digest')));
      assert.equal(order.indexOf(pushed.image!.digest) + 1, Math.min(order.indexOf(pushed.sbom!.digest), order.indexOf(pushed.sig!.digest)));
      await page.screenshot({ path: shot(`artifacts-referrers-${dialect}`), fullPage: true });

      await page.click(`tr.artifact a[href$="/artifacts/${pushed.image!.digest}"]`);
      await page.waitForURL(`**/artifacts/${pushed.image!.digest}`);
      const refs = (await page.textContent('#referrers')) ?? '';
      assert.match(refs, /application\/spdx\+json/);
      assert.match(refs, /valid: release-key/);
      assert.match((await page.textContent('.facts')) ?? '', /signed by release-key/);
      await page.screenshot({ path: shot(`artifact-signed-${dialect}`), fullPage: true });
      assert.deepEqual(errors, []);
    });

    it('shows a chart with its own pull command and "not scannable", never clean', async () => {
      await page.goto(`${b.url}/projects/ui/repositories/${encodeURIComponent('charts/web')}`);
      const row = page.locator('tr.artifact');
      assert.equal(await row.count(), 1);
      assert.equal(await row.locator('code.pull').textContent(), `helm pull oci://${b.host}/ui/charts/web --version 1.2.0`);
      assert.equal(await row.locator('.badge-type').textContent(), 'chart');
      assert.match((await row.textContent()) ?? '', /not scannable/);
      assert.doesNotMatch((await row.textContent()) ?? '', /clean/);
      await page.screenshot({ path: shot(`artifacts-chart-${dialect}`), fullPage: true });
      await row.locator('a.mono').click();
      await page.waitForURL(/\/artifacts\/sha256:/);
      const status = (await page.textContent('#scan-status')) ?? '';
      assert.match(status, /not scannable/);
      assert.match(status, /not scanned/);
      assert.equal(await page.locator('#scan-status button').count(), 0, 'no scan button for a type the scanner does not read');
      assert.equal(await page.locator('.sevsummary').count(), 0);
      const digest = page.url().split('/artifacts/')[1]!;
      assert.equal(await page.locator('code.pull').first().textContent(), `helm pull oci://${b.host}/ui/charts/web@${digest}`);
      assert.deepEqual(errors, []);
    });

    it('shows a SIF with its apptainer pull command and its scan report as for images: findings, OS, scan again', async () => {
      await page.goto(`${b.url}/projects/ui/repositories/lolcow`);
      const row = page.locator('tr.artifact');
      assert.equal(await row.count(), 1);
      assert.equal(await row.locator('code.pull').textContent(), `apptainer pull oras://${b.host}/ui/lolcow:latest`);
      assert.equal(await row.locator('.badge-type').textContent(), 'sif');
      assert.doesNotMatch((await row.textContent()) ?? '', /not scannable/);
      await page.screenshot({ path: shot(`artifacts-sif-${dialect}`), fullPage: true });
      await row.locator('a.mono').click();
      await page.waitForURL(/\/artifacts\/sha256:/);
      const status = (await page.textContent('#scan-status')) ?? '';
      assert.doesNotMatch(status, /not scannable/);
      assert.match(status, /Debian GNU\/Linux 9 \(stretch\)/);
      assert.equal(await page.locator('#scan-status button:has-text("Scan again")').count(), 1);
      assert.equal(await page.locator('svg.sevbar').count(), 1);
      const rows = page.locator('table.findings tbody tr');
      assert.equal(await rows.count(), 1);
      assert.match((await rows.first().textContent()) ?? '', /DLA-3022-1[\s\S]*dpkg[\s\S]*1\.18\.25/);
      assert.equal(await page.locator('details.incomplete').count(), 0);
      const digest = page.url().split('/artifacts/')[1]!;
      assert.equal(await page.locator('code.pull').first().textContent(), `apptainer pull oras://${b.host}/ui/lolcow@${digest}`);
      await page.screenshot({ path: shot(`artifact-sif-report-${dialect}`), fullPage: true });
      assert.deepEqual(errors, []);
    });
  });
}
