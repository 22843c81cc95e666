import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { startInstance, type Instance } from '../helpers/registry.js';

for (const dialect of testDialects()) {
  describe(`browser: project settings, deletion, GC, system allowlist [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'ui-pol' } });
      browser = await launchChromium();
      page = await browser.newPage();
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('saves project policy settings, and refuses bad input with a message', async () => {
      await page.goto(`${b.url}/projects/ui-pol`);
      await page.click('nav.tabs >> text=Settings');
      await page.check('input[name=prevent_vulnerable]');
      await page.selectOption('select[name=severity]', 'high');
      await page.fill('textarea[name=cve_allowlist]', 'CVE-2024-0001\nCVE-2024-0002');
      await page.fill('textarea[name=immutable_tags]', 'v*\nrelease-*');
      await page.fill('input[name=quota_mib]', '100');
      await page.click('form.settings button[type=submit]');
      await page.waitForSelector('.flash-ok');
      const p = await (await b.api('/api/v1/projects/ui-pol', { auth: ADMIN })).json();
      assert.equal(p.prevent_vulnerable, true);
      assert.equal(p.severity, 'high');
      assert.deepEqual(p.cve_allowlist, ['CVE-2024-0001', 'CVE-2024-0002']);
      assert.deepEqual(p.immutable_tags, ['v*', 'release-*']);
      assert.equal(p.quota_bytes, 100 * 1024 * 1024);
      await page.screenshot({ path: shot(`project-settings-${dialect}`), fullPage: true });
      await page.fill('textarea[name=cve_allowlist]', '<script>x</script>');
      await page.click('form.settings button[type=submit]');
      await page.waitForSelector('.settings-error, p.error');
      assert.match((await page.textContent('p.error')) ?? '', /not an advisory or CVE id/);
    });

    it('asks for the project name before deleting a project', async () => {
      await page.goto(`${b.url}/projects/ui-pol/settings`);
      await page.click('text=Delete project…');
      await page.fill('input[name=confirm_name]', 'wrong');
      await page.click('button:has-text("Delete project")');
      await page.waitForSelector('p.error');
      await page.fill('input[name=confirm_name]', 'ui-pol');
      await page.click('button:has-text("Delete project")');
      await page.waitForURL(`${b.url}/projects`);
      assert.equal((await b.api('/api/v1/projects/ui-pol', { auth: ADMIN })).status, 404);
    });

    it('runs a GC dry run from the GC page and lists it in the history', async () => {
      await page.goto(`${b.url}/gc`);
      await page.click('button:has-text("Dry run")');
      await page.waitForURL(/\/jobs\/\d+$/);
      await page.waitForSelector('#job-panel .state-success', { timeout: 20_000 });
      await page.goto(`${b.url}/gc`);
      assert.match((await page.textContent('table.grid')) ?? '', /dry run/);
      await page.screenshot({ path: shot(`gc-${dialect}`), fullPage: true });
    });

    it('shows a read-only banner while GC holds the registry', async () => {
      await b.services.policy.setReadOnly({ reason: 'garbage collection', until: Date.now() + 30_000, jobId: null });
      await page.goto(`${b.url}/projects`);
      assert.match((await page.textContent('.banner')) ?? '', /Garbage collection is running/);
      await b.services.policy.setReadOnly(null);
    });

    it('edits the system CVE allowlist', async () => {
      await page.goto(`${b.url}/settings`);
      await page.fill('textarea[name=items]', 'CVE-2023-4863');
      // the settings page has several forms (the site language first): save the allowlist's own
      await page.click('form[action="/settings/cve-allowlist"] button:has-text("Save")');
      await page.waitForSelector('.flash-ok');
      assert.deepEqual((await b.services.policy.systemAllowlist()).items, ['CVE-2023-4863']);
    });
  });
}
