import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { eventually, startInstance, type Instance } from '../helpers/registry.js';

for (const dialect of testDialects()) {
  describe(`browser: job center and schedules [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;

    before(async () => {
      b = await startInstance(dialect);
      // A long job that reports progress step by step and honours its AbortSignal.
      b.services.jobs.register({
        name: 'ui-demo',
        maxAttempts: 1,
        timeoutMs: 120_000,
        concurrency: 1,
        async run(ctx) {
          for (let i = 1; i <= 100; i++) {
            if (ctx.signal.aborted) throw new Error('aborted');
            await ctx.progress(i, 'layer', { done: i, total: 100 });
            if (i % 10 === 0) await ctx.log('scan_report_not_ready', { seconds: i });
            await new Promise((r) => setTimeout(r, 300));
          }
        },
      });
      browser = await launchChromium();
      page = await browser.newPage();
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('shows a running job whose row updates itself, and stops it', async () => {
      const { id } = await b.services.jobs.enqueueStored('ui-demo', {});
      await eventually(async () => (await b.services.jobs.get(id))?.status === 'running');
      await page.goto(`${b.url}/jobs?type=ui-demo`);
      const row = page.locator(`#job-${id}`);
      const first = Number(await row.locator('progress').getAttribute('value'));
      await page.waitForFunction(([sel, v]) => Number(document.querySelector(`${sel} progress`)?.getAttribute('value')) > (v as number) + 2, [`#job-${id}`, first] as const, { timeout: 10_000 });
      await page.screenshot({ path: shot(`jobs-running-${dialect}`), fullPage: true });
      page.once('dialog', (d) => void d.accept());
      await row.locator('text=Stop').click();
      await page.waitForSelector(`#job-${id} .state-stopped`);
      assert.equal(await page.locator(`#job-${id}`).getAttribute('hx-trigger'), null, 'a finished row stops polling');
      assert.equal((await b.services.jobs.get(id))?.status, 'stopped');
      await page.click(`#job-${id} a[href="/jobs/${id}"]`);
      assert.match((await page.textContent('pre.log')) ?? '', /stopped on request/);
      await page.screenshot({ path: shot(`job-detail-${dialect}`), fullPage: true });
    });

    it('runs a reconciliation from the job center', async () => {
      await page.goto(`${b.url}/jobs`);
      await page.click('button:has-text("Reconcile with the registry now")');
      await page.waitForURL(/\/jobs\/\d+$/);
      await page.waitForSelector('#job-panel .state-success', { timeout: 15_000 });
    });

    it('edits a schedule with validation and a preview of the next runs', async () => {
      await page.goto(`${b.url}/schedules`);
      const input = page.locator('#schedule-reconcile input[name=cron]');
      await input.fill('61 * * * *');
      await input.press('End');
      await page.waitForSelector('#preview-reconcile .error');
      await page.click('#schedule-reconcile button[type=submit]');
      await page.waitForSelector('#schedule-reconcile form .error');
      assert.equal((await b.services.scheduler.get('reconcile'))?.cron, '17 * * * *', 'an invalid expression changes nothing');
      await page.locator('#schedule-reconcile input[name=cron]').fill('30 2 * * *');
      await page.locator('#schedule-reconcile input[name=cron]').press('End');
      await page.waitForFunction(() => /02:30 UTC/.test(document.querySelector('#preview-reconcile')?.textContent ?? ''));
      await page.click('#schedule-reconcile button[type=submit]');
      await page.waitForSelector('.flash-ok');
      assert.equal((await b.services.scheduler.get('reconcile'))?.cron, '30 2 * * *');
      await page.screenshot({ path: shot(`schedules-${dialect}`), fullPage: true });
      const api = await (await b.api('/api/v1/schedules', { auth: ADMIN })).json();
      assert.equal(api.items.find((s: { name: string }) => s.name === 'reconcile').cron, '30 2 * * *');
    });

    it("shows as a schedule's last fire only a fire that ran, not its creation or an edit", async () => {
      await page.goto(`${b.url}/schedules`);
      const lastFire = page.locator('#schedule-scan-all .last-fire');
      assert.match((await lastFire.textContent()) ?? '', /Last fired:\s*never/);
      await page.locator('#schedule-scan-all input[name=cron]').fill('0 5 * * *');
      await page.click('#schedule-scan-all button[type=submit]');
      await page.waitForSelector('.flash-ok');
      assert.match((await page.locator('#schedule-scan-all .last-fire').textContent()) ?? '', /Last fired:\s*never/, 'an edit is not a fire');
      const fireTime = Date.parse('2026-11-29T05:00:00Z');
      await b.services.scheduler.fire('scan-all', fireTime);
      const job = await b.db
        .selectFrom('jobs')
        .select('id')
        .where('unique_key', '=', `schedule:scan-all:${new Date(fireTime).toISOString()}`)
        .executeTakeFirstOrThrow();
      await page.goto(`${b.url}/schedules`);
      const text = (await page.locator('#schedule-scan-all .last-fire').textContent()) ?? '';
      assert.match(text, /Last fired:\s*2026-11-29 05:00(:00)? UTC/);
      assert.equal(await page.locator(`#schedule-scan-all .last-fire a[href="/jobs/${job.id}"]`).count(), 1);
      await page.screenshot({ path: shot(`schedules-last-fire-${dialect}`), fullPage: true });
    });

    it('offers "Scan all now" to system admins only', async () => {
      await page.goto(`${b.url}/jobs`);
      assert.equal(await page.locator('button:has-text("Scan all now")').count(), 1);
      const user: [string, string] = ['nadia', 'nadia-pw-12345'];
      assert.equal((await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: user[0], password: user[1] } })).status, 201);
      const ctx = await browser.newContext();
      const other = await ctx.newPage();
      try {
        await signIn(other, b.url, user[0], user[1]);
        const res = await other.goto(`${b.url}/jobs`);
        assert.equal(res?.status(), 403);
        assert.equal(await other.locator('button:has-text("Scan all now")').count(), 0);
        await other.screenshot({ path: shot(`jobs-non-admin-${dialect}`), fullPage: true });
        assert.equal((await b.api('/api/v1/system/scan-all', { method: 'POST', auth: user })).status, 403);
      } finally {
        await ctx.close();
      }
    });
  });
}
