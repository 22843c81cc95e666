import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD, startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { listen } from '../helpers/server.js';
import * as art from '../../src/db/repos/artifacts.js';
import { insertJob } from '../../src/db/repos/jobs.js';
import { GARBAGE_COLLECTION } from '../../src/jobs/types/gc.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

const SUBJECT = `sha256:${'7'.repeat(64)}`;
const PAGES: { path: string; name: string; en: RegExp; zh: RegExp }[] = [
  { path: '/projects/i18n/repositories/app', name: 'repository', en: /1 pull\b/, zh: /1 次拉取/ },
  { path: `/projects/i18n/repositories/app/artifacts/${SUBJECT}/referrers`, name: 'referrers', en: /No referrers/, zh: /暂无引用者/ },
  { path: `/projects/i18n/repositories/app/artifacts/${SUBJECT}/tags`, name: 'artifact-tags', en: /v1/, zh: /v1/ },
  { path: '/', name: 'dashboard', en: /Vulnerabilities across your images/, zh: /您可见镜像的漏洞概况/ },
  { path: '/projects', name: 'projects', en: /New project/, zh: /新建项目/ },
  { path: '/projects/i18n', name: 'project', en: /How to push/, zh: /如何推送/ },
  { path: '/jobs', name: 'jobs', en: /Scan all now/, zh: /立即全部扫描/ },
  { path: '/users', name: 'users', en: /New user/, zh: /新建用户/ },
  { path: '/robots', name: 'robots', en: /New robot account/, zh: /新建机器人账户/ },
  { path: '/vulndb', name: 'vulndb', en: /Vulnerability database/, zh: /漏洞数据库/ },
  { path: '/gc', name: 'gc', en: /Collect garbage now/, zh: /立即回收/ },
  { path: '/audit-logs', name: 'audit', en: /Time \(UTC\)/, zh: /时间（UTC）/ },
  { path: '/projects/i18n/settings', name: 'project-settings', en: /Prevent pulling vulnerable images/, zh: /阻止拉取有漏洞的镜像/ },
  { path: '/schedules', name: 'schedules', en: /Cron expressions in UTC/, zh: /Cron 表达式（UTC）/ },
  { path: '/security', name: 'security', en: /Most dangerous CVEs/, zh: /最危险的 CVE/ },
  { path: '/projects/i18n/webhooks', name: 'webhooks', en: /Create webhook/, zh: /创建 Webhook/ },
  { path: '/projects/i18n/retention', name: 'retention', en: /Tag retention/, zh: /标签保留/ },
  { path: '/projects/i18n/members', name: 'members', en: /Add a directory group/, zh: /添加目录组/ },
  { path: '/account/profile', name: 'profile', en: /Signs in with/, zh: /登录方式/ },
  { path: '/settings/auth', name: 'auth-settings', en: /Membership attribute/, zh: /成员关系属性/ },
  { path: '/access-log', name: 'access-log', en: /Access log/, zh: /访问日志/ },
  { path: '/no-such-page', name: 'not-found', en: /404 Not found/, zh: /404 未找到/ },
];
/** English words that must not be left on a page shown in Chinese (the UI's own words; data such as names may be English; "Webhook" is the word Chinese UIs use too). */
// `image`, `done`, `pulls`: an artifact type badge, a job's progress and a count the walkthrough found in English.
const ENGLISH_LEFT = /\b(?:Save|Delete|Remove|Search|Severity|Artifact|Package|Settings|Members|Events|Enabled|Username|Profile|Sign[- ]in|Sign out|critical|high|medium|low|image|done|pulls?)\b/;
// A message key shown instead of its text means a catalogue or a template is wrong.
const RAW_KEY =
  /\b(?:nav|common|jobs|jobprogress|joblog|projects|repo|artifact|dashboard|pager|login|scan|findings|schedules|howto|severity|layout|security|webhooks|retention|members|profile|auth_settings|audit|roles|error|errors|gate|chart|gc|robots|users|account)\.[a-z_]+\b/;

for (const dialect of testDialects()) {
  describe(`browser: the UI in English and Simplified Chinese [${dialect}]`, () => {
    let t: TestApp;
    let server: Awaited<ReturnType<typeof listen>>;
    let browser: Browser;
    before(async () => {
      t = await startTestApp(dialect);
      server = await listen(t);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'i18n' } });
      // One repository with one image pulled once, and one finished job whose progress says "done".
      const now = Date.now();
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'i18n'), 'i18n/app', now);
      const id = await art.upsertArtifact(t.db, repo, SUBJECT, manifestFacts({ pushedAt: now, type: 'image' }));
      await art.setTag(t.db, repo, id, 'v1', now);
      await art.addPulls(t.db, id, repo, 1, now);
      await insertJob(t.db, {
        type: GARBAGE_COLLECTION,
        status: 'success',
        priority: 0,
        unique_key: null,
        release_key: 0,
        payload: JSON.stringify({ dryRun: true }),
        attempt: 1,
        failures: 0,
        max_attempts: 1,
        run_at: now,
        lease_until: null,
        worker_id: null,
        stop_requested: 0,
        progress: 100,
        progress_text: 'done',
        progress_key: 'done',
        progress_params: '{}',
        error: null,
        result: JSON.stringify({ dryRun: true, blobsDeleted: 0, bytesFreed: 0, durationMs: 10 }),
        hook_url: null,
        created_at: now,
        updated_at: now,
        started_at: now,
        finished_at: now,
      });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await t?.close({ drop: true });
    });

    for (const [locale, lang] of [
      ['en-US', 'en'],
      ['zh-CN', 'zh-CN'],
    ] as const) {
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
            if (lang === 'zh-CN') {
              // What people read: the text of <main> (not the footer's language names) and the attributes of its controls.
              const read = await page.evaluate(() => {
                const main = document.querySelector('main') ?? document.body;
                const attrs = [...main.querySelectorAll('[placeholder],[title],[aria-label],[hx-confirm]')].flatMap((e) =>
                  ['placeholder', 'title', 'aria-label', 'hx-confirm'].map((a) => e.getAttribute(a) ?? '').filter((v) => v && !/^\S+$/.test(v)),
                );
                const clone = main.cloneNode(true) as HTMLElement;
                // Commands, identifiers and options that are data (an option showing its own value: ldap, member, slack).
                for (const x of clone.querySelectorAll('pre, code, input, textarea')) x.remove();
                for (const o of clone.querySelectorAll('option')) if (o.textContent === (o.getAttribute('value') ?? o.textContent)) o.remove();
                return `${clone.textContent ?? ''} ${attrs.join(' ')}`;
              });
              const left = ENGLISH_LEFT.exec(read);
              assert.equal(left, null, `${p.path} in Chinese still says "${left?.[0]}": …${read.slice(Math.max(0, (left?.index ?? 0) - 80), (left?.index ?? 0) + 80)}…`);
            }
            await page.screenshot({ path: shot(`i18n-${p.name}-${lang}-${dialect}`), fullPage: true });
          }
        } finally {
          await ctx.close();
        }
      });
    }

    for (const [locale, lang] of [
      ['en-US', 'en'],
      ['zh-CN', 'zh-CN'],
    ] as const) {
      it(`names artifact types, job progress, counts and the advisory database in ${lang} (from the newcomer walkthrough)`, async () => {
        const en = lang === 'en';
        const ctx = await browser.newContext({ locale });
        const page = await ctx.newPage();
        try {
          await signIn(page, server.url, 'admin', ADMIN_PASSWORD);
          // The nav names the advisory database for what it opens, and the security hub as such.
          assert.equal((await page.textContent('nav a[href="/vulndb"]'))?.trim(), en ? 'Advisories' : '漏洞库');
          assert.equal((await page.textContent('nav a[href="/security"]'))?.trim(), en ? 'Security hub' : '安全中心');
          // Dashboard tiles: one word per count, the advisory tile in words (no bare "OSV"), no codes in tooltips.
          const tiles = (await page.locator('.tiles').textContent()) ?? '';
          assert.doesNotMatch(tiles, /OSV/);
          assert.match(tiles, en ? /1\s*repository, 1 artifact/ : /1\s*个仓库，1 个制品/);
          if (en) assert.match(tiles, /1\s*project you can see/);
          assert.match(tiles, en ? /Advisories/ : /漏洞库/);
          const titles = await page.locator('main [title]').evaluateAll((els) => els.map((e) => e.getAttribute('title') ?? ''));
          for (const v of titles) assert.doesNotMatch(v, /^[a-z]+(?:[_-][a-z]+)+$/, `a tooltip shows a code: ${v}`);
          await page.screenshot({ path: shot(`uxfix-dashboard-${lang}-${dialect}`), fullPage: true });
          // The repository page: the type badge and the pull count in words of the page's language.
          await page.goto(`${server.url}/projects/i18n/repositories/app`);
          assert.equal((await page.textContent('.badge-type'))?.trim(), en ? 'image' : '镜像');
          assert.match((await page.textContent('main')) ?? '', en ? /\b1 pull\b(?!s)/ : /1 次拉取/);
          await page.screenshot({ path: shot(`uxfix-repository-${lang}-${dialect}`), fullPage: true });
          // The job center: a finished job's progress text.
          await page.goto(`${server.url}/jobs`);
          const row = (await page.locator('#jobs tbody tr, table tbody tr').first().textContent()) ?? '';
          assert.match(row, en ? /100% · done/ : /100% · 完成/);
          await page.screenshot({ path: shot(`uxfix-jobs-${lang}-${dialect}`), fullPage: true });
          // The audit log: no action or resource codes as tooltips.
          await page.goto(`${server.url}/audit-logs`);
          assert.equal(await page.locator('main [title]').evaluateAll((els) => els.filter((e) => /^[a-z]+(?:[_-][a-z]+)+$/.test(e.getAttribute('title') ?? '')).length), 0);
          // An artifact without referrers says so.
          await page.goto(`${server.url}/projects/i18n/repositories/app/artifacts/${SUBJECT}/referrers`);
          assert.equal(
            (await page.textContent('td.empty'))?.trim(),
            en ? 'No referrers: nothing (a signature, an SBOM, an attestation) refers to this artifact.' : '暂无引用者：没有签名、SBOM 或证明引用此制品。',
          );
          await page.screenshot({ path: shot(`uxfix-referrers-${lang}-${dialect}`), fullPage: true });
        } finally {
          await ctx.close();
        }
      });
    }

    it('prints chart words, flash messages and confirmations in the language of the page', async () => {
      const ctx = await browser.newContext({ locale: 'zh-CN' });
      const page = await ctx.newPage();
      try {
        await signIn(page, server.url, 'admin', ADMIN_PASSWORD);
        await page.goto(`${server.url}/security`);
        const svg = page.locator('svg.sevcols').first();
        const label = (await svg.getAttribute('aria-label')) ?? '';
        assert.match(label, /0 严重, 0 高危, 0 中危, 0 低危, 0 未知/);
        const words = await svg.locator('text').allTextContents();
        assert.ok(
          ['严重', '高危', '中危', '低危', '未知'].every((w) => words.includes(w)),
          words.join(','),
        );
        assert.equal(words.filter((w) => /[a-z]{3,}/.test(w)).length, 0, `no English in the chart: ${words.join(',')}`);
        await page.goto(`${server.url}/projects/i18n/settings`);
        await page.click('form button[type=submit].primary');
        await page.waitForSelector('.flash-ok');
        assert.equal((await page.textContent('.flash-ok'))?.trim(), '设置已保存。');
        const res = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'lin', password: 'lin-password-1234' } });
        assert.equal(res.status, 201);
        const { id } = await res.json();
        await page.goto(`${server.url}/users/${id}/delete`);
        assert.match((await page.textContent('main')) ?? '', /删除用户 lin？/);
        await page.screenshot({ path: shot(`i18n-confirm-zh-CN-${dialect}`), fullPage: true });
        await page.click('main button[type=submit]');
        await page.waitForSelector('.flash-ok');
        assert.equal((await page.textContent('.flash-ok'))?.trim(), '用户 lin 已删除。');
      } finally {
        await ctx.close();
      }
    });

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

    it('switches language on a page a form POST answered without sending that form again, staying on its address', async () => {
      const ctx = await browser.newContext({ locale: 'en-US' });
      const page = await ctx.newPage();
      await signIn(page, server.url, 'admin', ADMIN_PASSWORD);
      await page.goto(`${server.url}/projects/i18n/robots`);
      await page.fill('input[name=name]', 'langbot');
      await Promise.all([page.waitForEvent('load'), page.click('form.row button.primary')]);
      assert.match((await page.textContent('main')) ?? '', /Copy the secret now/);
      const posts: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') posts.push(new URL(r.url()).pathname);
      });
      await Promise.all([page.waitForEvent('load'), page.selectOption('footer select[name=lang]', 'zh-CN')]);
      await page.waitForSelector('html[lang="zh-CN"]');
      assert.deepEqual(posts, ['/language']);
      assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/projects/i18n/robots');
      assert.match((await page.textContent('h1')) ?? '', /i18n/);
      await Promise.all([page.waitForEvent('load'), page.selectOption('footer select[name=lang]', 'auto')]);
      await ctx.close();
    });
  });
}
