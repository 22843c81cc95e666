import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, ADMIN_PASSWORD, Browser as HttpBrowser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { projectId } from '../helpers/seed.js';
import { listen } from '../helpers/server.js';

/**
 * What a newcomer walking the UI found (issue #18): the retention tab's example and schedule looked saved and a dry
 * run ran with nothing saved; the password form had no confirmation and did not say its rules; the project list had
 * no repository count and no role. Each through Chromium, in English and Chinese where words changed.
 */
for (const dialect of testDialects()) {
  describe(`browser: the newcomer walkthrough [${dialect}]`, () => {
    let t: TestApp;
    let server: Awaited<ReturnType<typeof listen>>;
    let browser: Browser;
    before(async () => {
      t = await startTestApp(dialect);
      server = await listen(t);
      for (const [name, isPublic] of [
        ['team', false],
        ['open', true],
        ['secret', false],
        ['empty', false],
      ] as const)
        assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name, public: isPublic } })).status, 201);
      await createUser(t, 'dev', 'dev-password-123');
      await createUser(t, 'lead', 'lead-password-123');
      assert.equal((await t.req('/api/v1/projects/team/members', { method: 'POST', auth: ADMIN, json: { username: 'dev', role: 'developer' } })).status, 201);
      assert.equal((await t.req('/api/v1/projects/empty/members', { method: 'POST', auth: ADMIN, json: { username: 'dev', role: 'guest' } })).status, 201);
      const now = Date.now();
      for (const r of ['team/a', 'team/b', 'team/c']) await art.ensureRepository(t.db, await projectId(t.db, 'team'), r, now);
      await art.ensureRepository(t.db, await projectId(t.db, 'open'), 'open/x', now);
      await art.ensureRepository(t.db, await projectId(t.db, 'secret'), 'secret/y', now);
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await t?.close({ drop: true });
    });

    it('projects list: repository counts for everyone, and the role column for a non-admin', async () => {
      const ctx = await browser.newContext({ locale: 'en-US' });
      const page = await ctx.newPage();
      try {
        await signIn(page, server.url, 'dev', 'dev-password-123');
        await page.goto(`${server.url}/projects`);
        const rows = await page.locator('main table.grid tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
        // By name: empty (guest), open (public, no role), team (developer); secret is not visible.
        assert.deepEqual(
          rows.map((r) => [r[0], r[2], r[3]]),
          [
            ['empty', 'guest', '0'],
            ['open', '— (public project)', '1'],
            ['team', 'developer', '3'],
          ],
        );
        assert.equal(await page.locator('main table.grid thead th').count(), 5);
        await page.screenshot({ path: shot(`walkthrough-projects-dev-${dialect}`), fullPage: true });
        // A system admin acts as admin everywhere: no role column, every project with its count.
        const admin = await browser.newContext({ locale: 'zh-CN' });
        const ap = await admin.newPage();
        await signIn(ap, server.url, 'admin', ADMIN_PASSWORD);
        await ap.goto(`${server.url}/projects`);
        assert.deepEqual(await ap.locator('main table.grid thead th').allTextContents(), ['名称', '访问级别', '仓库数', '创建时间']);
        assert.deepEqual(await ap.locator('main table.grid td.repositories').allTextContents(), ['0', '1', '1', '3']);
        await ap.screenshot({ path: shot(`walkthrough-projects-admin-zh-CN-${dialect}`), fullPage: true });
        await admin.close();
      } finally {
        await ctx.close();
      }
    });

    it('change password: a confirmation that differs changes nothing and says so; the form states the enforced rules', async () => {
      for (const [locale, lang] of [
        ['en-US', 'en'],
        ['zh-CN', 'zh-CN'],
      ] as const) {
        const ctx = await browser.newContext({ locale });
        const page = await ctx.newPage();
        try {
          await signIn(page, server.url, 'lead', 'lead-password-123');
          await page.goto(`${server.url}/account/password`);
          assert.match((await page.textContent('#password-rules')) ?? '', lang === 'en' ? /At least 8 and at most 256 characters\./ : /至少 8 个字符，最多 256 个字符。/);
          assert.equal(await page.getAttribute('input[name=new_password]', 'minlength'), '8');
          assert.equal(await page.getAttribute('input[name=new_password]', 'maxlength'), '256');
          await page.fill('input[name=old_password]', 'lead-password-123');
          await page.fill('input[name=new_password]', 'brand-new-pass-1');
          await page.fill('input[name=confirm_password]', 'brand-new-pass-2');
          await Promise.all([page.waitForEvent('load'), page.click('main button[type=submit]')]);
          assert.equal(
            (await page.textContent('p.error[role=alert]'))?.trim(),
            lang === 'en' ? 'The new password and its confirmation differ. Nothing was changed.' : '两次输入的新密码不一致，密码未修改。',
          );
          await page.screenshot({ path: shot(`walkthrough-password-mismatch-${lang}-${dialect}`), fullPage: true });
          assert.equal((await t.req('/api/v1/users/current', { auth: ['lead', 'lead-password-123'] })).status, 200, 'the old password still works');
        } finally {
          await ctx.close();
        }
      }
      // Matching: changed.
      const ctx = await browser.newContext({ locale: 'en-US' });
      const page = await ctx.newPage();
      await signIn(page, server.url, 'lead', 'lead-password-123');
      await page.goto(`${server.url}/account/password`);
      await page.fill('input[name=old_password]', 'lead-password-123');
      await page.fill('input[name=new_password]', 'brand-new-pass-1');
      await page.fill('input[name=confirm_password]', 'brand-new-pass-1');
      await Promise.all([page.waitForEvent('load'), page.click('main button[type=submit]')]);
      assert.match((await page.textContent('main')) ?? '', /Password changed\./);
      assert.equal((await t.req('/api/v1/users/current', { auth: ['lead', 'brand-new-pass-1'] })).status, 200);
      await ctx.close();
    });

    it('retention: an empty policy shows a labelled example, not a value; a run needs saved rules; the simple form saves the common rule without JavaScript', async () => {
      // REST first: nothing saved, so a dry run and a run are refused with a message that says what to do.
      for (const dryRun of [true, false]) {
        const res = await t.req('/api/v1/projects/team/retention/run', { method: 'POST', auth: ADMIN, json: { dry_run: dryRun } });
        assert.equal(res.status, 412);
        assert.match(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message, /no saved retention rules: save a policy first/);
      }
      assert.equal(((await t.req('/api/v1/projects/team/retention/runs', { auth: ADMIN }).then((r) => r.json())) as { items: unknown[] }).items.length, 0, 'nothing was queued');

      // Chromium without JavaScript: the forms work by plain POST.
      const ctx = await browser.newContext({ locale: 'en-US', javaScriptEnabled: false });
      const page = await ctx.newPage();
      try {
        await signIn(page, server.url, 'admin', ADMIN_PASSWORD);
        await page.goto(`${server.url}/projects/team/retention`);
        assert.match((await page.textContent('#retention-state')) ?? '', /No policy is saved yet/);
        assert.equal(await page.inputValue('textarea[name=rules]'), '', 'the example is not a value');
        assert.equal(await page.getAttribute('textarea[name=rules]', 'placeholder'), null, 'nor a placeholder that looks like one');
        assert.match((await page.textContent('#retention-example figcaption')) ?? '', /^Example \(not saved\)/);
        for (const f of await page.locator('input[name=schedule]').all()) {
          assert.equal(await f.inputValue(), '');
          assert.equal(await f.getAttribute('placeholder'), null);
        }
        await page.screenshot({ path: shot(`walkthrough-retention-empty-en-${dialect}`), fullPage: true });
        // A dry run now is refused, and the page says why.
        await page.click('form[action$="/retention/run"] button:has-text("Dry run")');
        assert.match((await page.textContent('p.error[role=alert]')) ?? '', /project team has no saved retention rules: save a policy first, then run it/);
        await page.screenshot({ path: shot(`walkthrough-retention-refused-en-${dialect}`), fullPage: true });

        // The simple form: keep the 5 most recently pushed v* tags, untagged ones too.
        await page.goto(`${server.url}/projects/team/retention`);
        await page.fill('#retention-simple input[name=tags]', 'v*');
        await page.selectOption('#retention-simple select[name=kind]', 'latest_pushed');
        await page.fill('#retention-simple input[name=n]', '5');
        await page.check('#retention-simple input[name=untagged]');
        await page.click('#retention-simple button[type=submit]');
        await page.waitForSelector('.flash-ok');
        const policy = (await (await t.req('/api/v1/projects/team/retention', { auth: ADMIN })).json()) as { rules: unknown[]; schedule: string | null };
        assert.deepEqual(policy.rules, [{ repositories: '**', tags: 'v*', untagged: true, retain: { kind: 'latest_pushed', count: 5 } }]);
        assert.equal(policy.schedule, null);
        assert.match((await page.textContent('#retention-state')) ?? '', /Policy saved/);
        assert.equal(await page.inputValue('#retention-simple input[name=n]'), '5', 'the form shows the saved rule');
        assert.equal(await page.locator('#retention-example').count(), 0, 'no example once rules are saved');
        await page.screenshot({ path: shot(`walkthrough-retention-saved-en-${dialect}`), fullPage: true });
        // A bad N (past the field's own min, as a form without the browser's checks sends it) is refused, nothing saved.
        const http = new HttpBrowser(t);
        await http.login(...ADMIN);
        const csrf = await http.csrf();
        for (const n of ['0', 'ten', '']) {
          const res = await http.post('/projects/team/retention', { _csrf: csrf, mode: 'simple', repositories: '**', tags: 'x*', kind: 'latest_pushed', n });
          assert.equal(res.status, 422);
          assert.match(await res.text(), /role="alert">N must be a whole number of at least 1</);
        }
        assert.deepEqual(((await (await t.req('/api/v1/projects/team/retention', { auth: ADMIN })).json()) as { rules: { tags: string }[] }).rules[0]!.tags, 'v*');
        // Saved rules: the dry run is queued.
        await page.goto(`${server.url}/projects/team/retention`);
        await page.click('form[action$="/retention/run"] button:has-text("Dry run")');
        await page.waitForSelector('.flash-ok');
        assert.match(new URL(page.url()).pathname, /^\/projects\/team\/retention\/runs\/\d+$/);
        // The runs list says how a run came, in words (not the payload's `manual`).
        await page.goto(`${server.url}/projects/team/retention`);
        assert.match((await page.textContent('#retention-runs tbody tr')) ?? '', /dry run \(on demand\)/);
      } finally {
        await ctx.close();
      }
      // The empty policy in Chinese: the example is labelled as one.
      const zh = await browser.newContext({ locale: 'zh-CN' });
      const zp = await zh.newPage();
      await signIn(zp, server.url, 'admin', ADMIN_PASSWORD);
      await zp.goto(`${server.url}/projects/open/retention`);
      assert.match((await zp.textContent('#retention-example figcaption')) ?? '', /^示例（未保存）/);
      assert.match((await zp.textContent('#retention-state')) ?? '', /尚未保存策略/);
      await zp.screenshot({ path: shot(`walkthrough-retention-empty-zh-CN-${dialect}`), fullPage: true });
      // "Run now…" through htmx (it asks first): refused, the message where the button was.
      zp.once('dialog', (d) => void d.accept());
      await zp.click('button.danger:has-text("立即运行")');
      await zp.waitForSelector('form[hx-post$="/retention/run"] p.error[role=alert]');
      assert.equal((await zp.textContent('form[hx-post$="/retention/run"] p.error'))?.trim(), '项目 open 尚未保存保留规则：请先保存策略，再运行');
      await zp.screenshot({ path: shot(`walkthrough-retention-run-refused-zh-CN-${dialect}`), fullPage: true });
      assert.equal(((await t.req('/api/v1/projects/open/retention/runs', { auth: ADMIN }).then((r) => r.json())) as { items: unknown[] }).items.length, 0);
      await zh.close();
    });
  });
}
