import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appendJobLog } from '../../src/db/repos/jobs.js';
import { KeyedFailure } from '../../src/jobs/runner.js';
import { VULNDB_UPDATE } from '../../src/jobs/types/vulndb-update.js';
import { ADMIN, ADMIN_PASSWORD, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { eventually } from '../helpers/registry.js';

/** The job page's log block, its lines without the time stamp. */
async function shownLog(b: Browser, id: number, headers: Record<string, string> = {}): Promise<string[]> {
  const html = await (await b.fetch(`/jobs/${id}`, { headers })).text();
  const pre = /<pre class="log"><code>([\s\S]*?)<\/code><\/pre>/.exec(html);
  assert.ok(pre, html.slice(0, 500));
  return pre[1]!
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^.*?\[(info|warn|error)\] #\d+ /, ''));
}

for (const dialect of testDialects()) {
  describe(`job log languages [${dialect}]`, () => {
    let t: TestApp;
    let vulndbJob: number;
    let flakyJob: number;
    let refusedJob: number;
    before(async () => {
      t = await startTestApp(dialect);
      const jobs = t.services.jobs;
      // Fails its first attempt: the runner's own lines (the error as thrown, the retry) are in the log too.
      jobs.register({
        name: 'flaky-i18n',
        maxAttempts: 2,
        timeoutMs: 5000,
        concurrency: 1,
        backoffBaseMs: 10,
        async run(ctx) {
          if (ctx.attempt === 1) throw new Error('disk on fire');
          await ctx.log('scan_all_finished', { count: 7 });
        },
      });
      // Fails for good with a keyed failure: logged by key, recorded as the English text, not retried.
      jobs.register({
        name: 'refused-i18n',
        maxAttempts: 3,
        timeoutMs: 5000,
        concurrency: 1,
        async run() {
          throw new KeyedFailure('webhook_refused', { what: 'HTTP 410' }, true);
        },
      });
      await jobs.start();
      // The real job type, with no feed URLs configured: it says so and ends.
      vulndbJob = (await jobs.enqueueStored(VULNDB_UPDATE, {})).id;
      flakyJob = (await jobs.enqueueStored('flaky-i18n', {})).id;
      refusedJob = (await jobs.enqueueStored('refused-i18n', {})).id;
      await eventually(async () => (await jobs.get(vulndbJob))?.status === 'success' && (await jobs.get(flakyJob))?.status === 'success' && (await jobs.get(refusedJob))?.status === 'error');
    });
    after(async () => t?.close({ drop: true }));

    it('shows a job log in Chinese to a zh-CN viewer and in English otherwise', async () => {
      const b = new Browser(t);
      assert.equal((await b.login('admin', ADMIN_PASSWORD)).status, 303);
      assert.deepEqual(await shownLog(b, vulndbJob, { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' }), ['未配置数据源地址（BERTH_VULNDB_URLS）：无需下载']);
      assert.deepEqual(await shownLog(b, vulndbJob, { 'accept-language': 'en-GB' }), ['no feed URLs configured (BERTH_VULNDB_URLS): nothing to download']);
      assert.deepEqual(await shownLog(b, vulndbJob), ['no feed URLs configured (BERTH_VULNDB_URLS): nothing to download']);
      // The runner's own lines and parameters; a thrown error's text is shown as it was thrown.
      assert.deepEqual(await shownLog(b, flakyJob, { 'accept-language': 'zh-CN' }), ['disk on fire', '0 秒后重试（第 2 次尝试，最多 2 次）', '全部 7 个扫描已完成']);
      assert.deepEqual(await shownLog(b, flakyJob, { 'accept-language': 'en' }), ['disk on fire', 'retrying in 0 s (attempt 2 of at most 2)', 'all 7 scans finished']);
      assert.deepEqual(await shownLog(b, refusedJob, { 'accept-language': 'zh-CN' }), ['接收方拒绝了该事件：HTTP 410']);
      assert.deepEqual(await shownLog(b, refusedJob, { 'accept-language': 'en' }), ['the receiver refused the event: HTTP 410']);
      // The htmx panel fragment renders the same lines.
      const panel = await (await b.fetch(`/jobs/${flakyJob}/panel`, { headers: { 'accept-language': 'zh-CN', 'hx-request': 'true' } })).text();
      assert.match(panel, /全部 7 个扫描已完成/);
    });

    it("follows the user's stored language over the browser's", async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      assert.equal((await b.post('/language', { _csrf: csrf, lang: 'zh-CN', next: '/' })).status, 303);
      assert.deepEqual(await shownLog(b, vulndbJob, { 'accept-language': 'en' }), ['未配置数据源地址（BERTH_VULNDB_URLS）：无需下载']);
      await b.post('/language', { _csrf: csrf, lang: 'auto', next: '/' });
      assert.deepEqual(await shownLog(b, vulndbJob, { 'accept-language': 'en' }), ['no feed URLs configured (BERTH_VULNDB_URLS): nothing to download']);
    });

    it('keeps English text in the REST log, whatever the caller’s language', async () => {
      const headers = { 'accept-language': 'zh-CN' };
      const log = await (await t.req(`/api/v1/jobs/${flakyJob}/log`, { auth: ADMIN, headers })).json();
      assert.deepEqual(
        log.items.map((l: { message: string }) => l.message),
        ['disk on fire', 'retrying in 0 s (attempt 2 of at most 2)', 'all 7 scans finished'],
      );
      const refused = await (await t.req(`/api/v1/jobs/${refusedJob}`, { auth: ADMIN, headers })).json();
      assert.equal(refused.status, 'error');
      assert.equal(refused.attempt, 1);
      assert.equal(refused.error, 'the receiver refused the event: HTTP 410');
      const text = await (await t.req(`/api/v1/jobs/${vulndbJob}/log`, { auth: ADMIN, headers: { ...headers, accept: 'text/plain' } })).text();
      assert.match(text, /\[info\] \(attempt 1\) no feed URLs configured \(BERTH_VULNDB_URLS\): nothing to download\n$/);
    });

    it('shows rows written before keys, and keys it does not know, as they were stored', async () => {
      const { id } = await t.services.jobs.enqueueStored('flaky-i18n', {}, { runAt: Date.now() + 3_600_000 });
      const db = t.db;
      await appendJobLog(db, { jobId: id, attempt: 1, level: 'info', message: 'an old English line', key: null, params: null, maxLines: 100 });
      await appendJobLog(db, { jobId: id, attempt: 1, level: 'info', message: 'a line from a newer release', key: 'no_such_key', params: { n: 1 }, maxLines: 100 });
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      assert.deepEqual(await shownLog(b, id, { 'accept-language': 'zh-CN' }), ['an old English line', 'a line from a newer release']);
      await t.services.jobs.requestStop(id);
    });
  });
}
