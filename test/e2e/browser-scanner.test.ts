import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';
import { DEBIAN_EXPECTED, DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

for (const dialect of testDialects()) {
  describe(`browser: vulnerability pages [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    let digest: string;
    const alerts: string[] = [];

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'vis' } });
      await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS });
      await push(await ociImage(path.join(b.config.dataDir, 'img'), DEBIAN_LAYERS, '1'), `docker://${b.host}/vis/app:1`, ADMIN);
      digest = await inspectDigest(`docker://${b.host}/vis/app:1`, ADMIN);
      try {
        await eventually(
          async () => (await (await b.api('/api/v1/projects/vis/repositories/app/artifacts/1/vulnerabilities', { auth: ADMIN })).json().catch(() => null))?.status === 'success',
          30_000,
        );
      } catch (err) {
        // Say what the service was doing, so a failure here can be understood from the CI log alone.
        const db = b.db;
        console.error('jobs', JSON.stringify(await db.selectFrom('jobs').selectAll().execute()));
        console.error('job logs', JSON.stringify(await db.selectFrom('job_logs').selectAll().execute()));
        console.error('reports', JSON.stringify(await db.selectFrom('scan_reports').select(['artifact_id', 'status', 'error', 'job_id']).execute()));
        console.error('artifacts', JSON.stringify(await db.selectFrom('artifacts').select(['id', 'repository_id', 'digest']).execute()));
        console.error('inbox', JSON.stringify(await db.selectFrom('notification_inbox').select(['id', 'applied_at', 'attempts', 'error', 'payload']).execute()));
        throw err;
      }
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('dialog', (d) => {
        alerts.push(d.message());
        void d.accept();
      });
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('shows the severity bar and findings, escaping hostile advisory text', async () => {
      await page.goto(`${b.url}/projects/vis/repositories/app/artifacts/${digest}`);
      assert.equal(await page.locator('svg.sevbar').count(), 1);
      assert.match((await page.locator('svg.sevbar').getAttribute('aria-label')) ?? '', /1 critical/);
      const rows = await page.locator('table.findings tbody tr').count();
      assert.equal(rows, DEBIAN_EXPECTED.length);
      const text = (await page.textContent('table.findings')) ?? '';
      assert.ok(text.includes('<img src=x onerror=alert(1)>'), 'shown as text');
      assert.equal(await page.locator('table.findings img').count(), 0);
      assert.equal(await page.locator('table.findings a[href^="javascript:"]').count(), 0);
      await page.screenshot({ path: shot(`artifact-vulnerabilities-${dialect}`), fullPage: true });
      assert.deepEqual(alerts, []);
    });

    it('filters by severity without JavaScript-only controls', async () => {
      await page.selectOption('select[name=severity]', 'high');
      await page.click('form.filters button[type=submit]');
      await page.waitForURL(/severity=high/);
      const sev = await page.locator('table.findings .sev').allTextContents();
      assert.deepEqual(sev.sort(), ['critical', 'high']);
    });

    it('rescans with live progress and shows the result', async () => {
      await page.goto(`${b.url}/projects/vis/repositories/app/artifacts/${digest}`);
      // The old "scanned" status stays on the page until htmx swaps in the answer: wait for the answer first.
      await Promise.all([page.waitForResponse((r) => r.url().endsWith('/scan') && r.request().method() === 'POST'), page.click('#scan-status button:has-text("Scan again")')]);
      await page.waitForSelector('#scan-status .state-running', { timeout: 5_000 }).catch(() => undefined);
      await page.waitForSelector('#scan-status .state-success', { timeout: 20_000 });
      const job = Number(await page.locator('#scan-status a[href^="/jobs/"]').count()) === 0;
      assert.ok(job, 'the finished status no longer links a running job');
      assert.equal(await page.locator('table.findings tbody tr').count(), DEBIAN_EXPECTED.length);
    });

    it('charts severities on the project page and lists them per artifact', async () => {
      await page.goto(`${b.url}/projects/vis`);
      assert.equal(await page.locator('svg.sevcols').count(), 1);
      await page.screenshot({ path: shot(`project-chart-${dialect}`), fullPage: true });
      await page.goto(`${b.url}/projects/vis/repositories/app`);
      assert.equal(await page.locator('.minisev .sev-critical').textContent(), '1');
    });

    it('imports an OSV file from the vulnerability database page', async () => {
      const file = path.join(b.config.dataDir, 'upload.json');
      fs.writeFileSync(file, JSON.stringify({ id: 'UI-UPLOAD-0001', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'uploaded' }, versions: ['1.0.0'] }] }));
      await page.goto(`${b.url}/vulndb`);
      await page.setInputFiles('input[type=file]', file);
      await page.click('form[action="/vulndb/import"] button[type=submit]');
      await page.waitForSelector('text=Import finished');
      assert.match((await page.textContent('main')) ?? '', /1 new/);
      await page.screenshot({ path: shot(`vulndb-${dialect}`), fullPage: true });
    });
  });
}
