import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { startReceiver } from '../helpers/receiver.js';
import { eventually } from '../helpers/registry.js';

for (const dialect of testDialects()) {
  describe(`site default language and Slack messages [${dialect}]`, () => {
    let t: TestApp;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let owner: [string, string];
    let hook = 0;
    before(async () => {
      t = await startTestApp(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' }); // the receiver is on loopback
      rx = await startReceiver();
      owner = await createUser(t, 'owner');
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: owner, json: { name: 'sl' } })).status, 201);
      const res = await t.req('/api/v1/projects/sl/webhooks', { method: 'POST', auth: owner, json: { url: `${rx.url}/slack`, format: 'slack', event_types: ['PUSH_ARTIFACT', 'SCANNING_COMPLETED'] } });
      assert.equal(res.status, 201);
      hook = (await res.json()).id;
    });
    after(async () => {
      await t?.close({ drop: true });
      await rx?.close();
    });

    const testText = async () => {
      const res = await t.req(`/api/v1/projects/sl/webhooks/${hook}/test`, { method: 'POST', auth: owner });
      assert.equal(res.status, 200);
      return rx.got.at(-1)!.body.text as string;
    };

    it('speaks English until a system admin sets another default language', async () => {
      assert.deepEqual(await (await t.req('/api/v1/system/default-language', { auth: ADMIN })).json(), { language: 'en' });
      assert.equal(await testText(), '[PUSH_ARTIFACT] sl/webhook-test:test pushed by owner');
    });

    it('lets only system admins read or set it, and only to a known language', async () => {
      assert.equal((await t.req('/api/v1/system/default-language')).status, 401);
      assert.equal((await t.req('/api/v1/system/default-language', { auth: owner })).status, 403);
      assert.equal((await t.req('/api/v1/system/default-language', { method: 'PUT', auth: owner, json: { language: 'zh-CN' } })).status, 403);
      for (const bad of [{ language: 'fr' }, { language: '<script>' }, {}, { language: 'zh-CN', extra: 1 }]) {
        assert.equal((await t.req('/api/v1/system/default-language', { method: 'PUT', auth: ADMIN, json: bad })).status, 400, JSON.stringify(bad));
      }
      assert.deepEqual(await (await t.req('/api/v1/system/default-language', { auth: ADMIN })).json(), { language: 'en' });
    });

    it('sends Slack messages in the default language, the test button and queued deliveries alike', async () => {
      const put = await t.req('/api/v1/system/default-language', { method: 'PUT', auth: ADMIN, json: { language: 'zh-CN' } });
      assert.equal(put.status, 200);
      assert.deepEqual(await put.json(), { language: 'zh-CN' });
      assert.equal(await testText(), '[PUSH_ARTIFACT] owner 推送了 sl/webhook-test:test');
      // A delivery through the webhook job, as a finished scan sends it.
      await t.services.jobs.start();
      const queued = await t.services.webhooks.emit({
        id: 'scan-1',
        type: 'SCANNING_COMPLETED',
        occurAt: Date.now(),
        operator: 'berth',
        project: 'sl',
        repository: 'sl/app',
        resources: [
          {
            digest: `sha256:${'c'.repeat(64)}`,
            tag: 'v2',
            scanOverview: {
              reportId: 'r1',
              status: 'Success',
              severity: 'Critical',
              durationSeconds: 1,
              total: 3,
              fixable: 0,
              summary: { Critical: 3 },
              startTime: null,
              endTime: null,
              scanner: 'berth',
            },
          },
        ],
      });
      assert.equal(queued, 1);
      const got = await eventually(async () => rx.got.find((r) => r.body?.text?.startsWith('[SCANNING_COMPLETED]')));
      assert.equal(got.body.text, '[SCANNING_COMPLETED] sl/app:v2 已完成扫描（berth）：3 个漏洞，最高 Critical');
      // The change is audited.
      const audit = await (await t.req('/api/v1/audit-logs?limit=20', { auth: ADMIN })).json();
      assert.ok(JSON.stringify(audit).includes('default-language'), JSON.stringify(audit).slice(0, 500));
    });

    it('is set from the settings page by system admins only', async () => {
      const admin = new Browser(t);
      await admin.login('admin', ADMIN_PASSWORD);
      const page = await (await admin.fetch('/settings')).text();
      assert.match(page, /<option value="zh-CN" selected>简体中文<\/option>/);
      const csrf = await admin.csrf();
      assert.equal((await admin.post('/settings/language', { _csrf: 'wrong', language: 'en' })).status, 403);
      assert.equal((await admin.post('/settings/language', { _csrf: csrf, language: 'xx' })).status, 400);
      const res = await admin.post('/settings/language', { _csrf: csrf, language: 'en' });
      assert.equal(res.status, 303);
      assert.deepEqual(await (await t.req('/api/v1/system/default-language', { auth: ADMIN })).json(), { language: 'en' });
      assert.equal(await testText(), '[PUSH_ARTIFACT] sl/webhook-test:test pushed by owner');
      const dev = new Browser(t);
      await dev.login(owner[0], owner[1]);
      const devCsrf = await dev.csrf();
      assert.equal((await dev.post('/settings/language', { _csrf: devCsrf, language: 'zh-CN' })).status, 403);
      assert.deepEqual(await (await t.req('/api/v1/system/default-language', { auth: ADMIN })).json(), { language: 'en' });
    });
  });
}
