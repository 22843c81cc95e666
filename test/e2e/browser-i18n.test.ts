import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD, startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { listen } from '../helpers/server.js';

const PAGES: { path: string; name: string; en: RegExp; zh: RegExp }[] = [
  { path: '/', name: 'dashboard', en: /Vulnerabilities across your images/, zh: /您可见镜像的漏洞概况/ },
  { path: '/projects', name: 'projects', en: /New project/, zh: /新建项目/ },
  { path: '/projects/i18n', name: 'project', en: /How to push/, zh: /如何推送/ },
  { path: '/jobs', name: 'jobs', en: /Scan all now/, zh: /立即全部扫描/ },
  { path: '/schedules', name: 'schedules', en: /Cron expressions in UTC/, zh: /Cron 表达式（UTC）/ },
];
// A message key shown instead of its text means a catalogue or a template is wrong.
const RAW_KEY = /\b(?:nav|common|jobs|projects|repo|artifact|dashboard|pager|login|scan|findings|schedules|howto|severity|layout)\.[a-z_]+\b/;

for (const dialect of testDialects()) {
  describe(`browser: the UI in English and Simplified Chinese [${dialect}]`, () => {
    let t: TestApp;
    let server: Awaited<ReturnType<typeof listen>>;
    let browser: Browser;
    before(async () => {
      t = await startTestApp(dialect);
      server = await listen(t);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'i18n' } });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await t?.close({ drop: true });
    });

    for (const [locale, lang] of [['en-US', 'en'], ['zh-CN', 'zh-CN']] as const) {
      it(`renders the key pages in ${lang}, chosen from Accept-Language`, async () => {
        const ctx = await browser.newContext({ locale });
        const page = await ctx.newPage();
        try {
          await page.goto(`${server.url}/login`);
          assert.equal(await page.getAttribute('html', 'lang'), lang);
          assert.match((await page.textContent('h1')) ?? '', lang === 'en' ? /Sign in to Berth/ : /登录 Berth/);
          await page.screenshot({ path: shot(`i18n-login-${lang}-${dialect}`), fullPage: true });
          await signIn(page, server.url, 'admin', ADMIN_PASSWORD);
          for (const p of PAGES) {
            await page.goto(server.url + p.path);
            const text = (await page.textContent('body')) ?? '';
            assert.match(text, lang === 'en' ? p.en : p.zh, `${p.path} in ${lang}`);
            assert.doesNotMatch(text, RAW_KEY, `${p.path} shows a message key`);
            assert.equal(await page.getAttribute('html', 'lang'), lang);
            await page.screenshot({ path: shot(`i18n-${p.name}-${lang}-${dialect}`), fullPage: true });
          }
        } finally {
          await ctx.close();
        }
      });
    }

    it('stores the language a user picks and uses it in every browser they sign in from', async () => {
      const ctx = await browser.newContext({ locale: 'en-US' });
      const page = await ctx.newPage();
      await signIn(page, server.url, 'admin', ADMIN_PASSWORD);
      await page.goto(`${server.url}/projects`);
      await Promise.all([page.waitForEvent('load'), page.selectOption('footer select[name=lang]', 'zh-CN')]);
      await page.waitForSelector('html[lang="zh-CN"]');
      assert.match((await page.textContent('h1')) ?? '', /项目/);
      await ctx.close();
      const other = await browser.newContext({ locale: 'en-US' });
      const page2 = await other.newPage();
      await page2.goto(`${server.url}/login`);
      assert.equal(await page2.getAttribute('html', 'lang'), 'en', 'before sign-in: the browser language');
      await page2.fill('input[name=username]', 'admin');
      await page2.fill('input[name=password]', ADMIN_PASSWORD);
      await page2.click('button[type=submit]');
      await page2.waitForSelector('html[lang="zh-CN"]');
      assert.match((await page2.textContent('main')) ?? '', /仪表盘/);
      // Back to following the browser.
      await Promise.all([page2.waitForEvent('load'), page2.selectOption('footer select[name=lang]', 'auto')]);
      await page2.waitForSelector('html[lang="en"]');
      await other.close();
    });
  });
}
