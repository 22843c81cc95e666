import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, shot } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { listen } from '../helpers/server.js';

for (const dialect of testDialects()) {
  describe(`browser UI [${dialect}]`, () => {
    let t: TestApp;
    let server: Awaited<ReturnType<typeof listen>>;
    let browser: Browser;
    let page: Page;
    const consoleErrors: string[] = [];

    before(async () => {
      t = await startTestApp(dialect);
      await createUser(t, 'dora');
      server = await listen(t);
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
      page.on('pageerror', (e) => consoleErrors.push(e.message));
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await t?.close({ drop: true });
    });

    it('logs in', async () => {
      await page.goto(`${server.url}/projects`);
      assert.match(page.url(), /\/login\?next=%2Fprojects$/);
      await page.fill('input[name=username]', ADMIN[0]);
      await page.fill('input[name=password]', 'wrong-password');
      await page.click('button[type=submit]');
      await page.waitForSelector('.error');
      assert.match((await page.textContent('.error')) ?? '', /invalid username or password/);
      await page.fill('input[name=username]', ADMIN[0]);
      await page.fill('input[name=password]', ADMIN_PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL(`${server.url}/projects`);
      assert.equal(await page.textContent('h1'), 'Projects');
      await page.screenshot({ path: shot(`login-${dialect}`), fullPage: true });
      assert.ok(fs.statSync(shot(`login-${dialect}`)).size > 1000);
    });

    it('creates a project', async () => {
      await page.fill('#create-project input[name=name]', 'browser-proj');
      await page.click('#create-project button[type=submit]');
      await page.waitForURL(`${server.url}/projects/browser-proj`);
      assert.match((await page.textContent('h1')) ?? '', /browser-proj/);
      await page.screenshot({ path: shot(`create-project-${dialect}`), fullPage: true });
      const res = await t.req('/api/v1/projects/browser-proj', { auth: ADMIN });
      assert.equal(res.status, 200);
    });

    it('adds a member, changes the role and removes with confirmation (htmx)', async () => {
      consoleErrors.length = 0; // the first test's failed login logged its expected 401
      await page.click('nav.tabs >> text=Members');
      await page.waitForURL(`${server.url}/projects/browser-proj/members`);
      const before = page.url();
      await page.fill('#member-form input[name=username]', 'dora');
      await page.selectOption('#member-form select[name=role]', 'guest');
      await page.click('#member-form button[type=submit]');
      await page.waitForSelector('#members-table >> text=dora');
      assert.equal(page.url(), before, 'htmx swapped the table in place');
      await page.screenshot({ path: shot(`add-member-${dialect}`), fullPage: true });
      const members = await (await t.req('/api/v1/projects/browser-proj/members', { auth: ADMIN })).json();
      assert.equal(members.items.find((m: { username: string }) => m.username === 'dora').role, 'guest');

      const row = page.locator('#members-table tr', { hasText: 'dora' });
      await row.locator('select[name=role]').selectOption('developer');
      await assert.doesNotReject(async () => {
        for (let i = 0; i < 50; i++) {
          const m = await (await t.req('/api/v1/projects/browser-proj/members', { auth: ADMIN })).json();
          if (m.items.find((x: { username: string }) => x.username === 'dora')?.role === 'developer') return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('role did not change');
      });

      page.once('dialog', (d) => void d.accept());
      await page.locator('#members-table tr', { hasText: 'dora' }).locator('button', { hasText: 'Remove' }).click();
      await page.waitForSelector('#members-table >> text=dora', { state: 'detached' });
      const afterRemove = await (await t.req('/api/v1/projects/browser-proj/members', { auth: ADMIN })).json();
      assert.ok(!afterRemove.items.some((m: { username: string }) => m.username === 'dora'));
      assert.deepEqual(consoleErrors, []);
    });
  });
}
