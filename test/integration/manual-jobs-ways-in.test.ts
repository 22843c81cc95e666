import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * Reconciliation and scan-all started by hand: REST and the job center's buttons go through one service each, so
 * they allow the same callers, queue the same job and write the same audit entry.
 */
for (const dialect of testDialects()) {
  describe(`manual jobs, every way in [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      await createUser(t, 'dora');
    });
    after(async () => t?.close({ drop: true }));

    const audit = (action: string) => t.db.selectFrom('audit_logs').select(['username', 'action', 'resource_type', 'resource', 'detail']).where('action', '=', action).orderBy('id').execute();
    const jobCount = async (type: string) =>
      Number(
        (
          await t.db
            .selectFrom('jobs')
            .select((e) => e.fn.countAll().as('n'))
            .where('type', '=', type)
            .executeTakeFirstOrThrow()
        ).n,
      );

    for (const [type, rest, action, resource] of [
      ['reconcile', '/api/v1/system/reconcile', 'reconcile', 'registry'],
      ['scan-all', '/api/v1/system/scan-all', 'scan_all', 'artifacts'],
    ] as const) {
      it(`${type}: REST and the job center queue it and audit it alike for a system admin`, async () => {
        const before = await jobCount(type);
        const viaRest = await t.req(rest, { method: 'POST', auth: ADMIN });
        assert.equal(viaRest.status, 202);
        const b = new Browser(t);
        await b.login('admin', ADMIN_PASSWORD);
        const viaUi = await b.post(`/jobs/run/${type}`, { _csrf: await b.csrf() });
        assert.equal(viaUi.status, 303);
        assert.match(viaUi.headers.get('location') ?? '', /^\/jobs\/\d+$/);
        assert.equal(await jobCount(type), before + 2);
        const rows = await audit(action);
        assert.equal(rows.length, 2, 'one audit entry per way in, under the same action');
        assert.deepEqual(
          rows.map((r) => [r.username, r.resource_type, r.resource]),
          [
            ['admin', 'system', resource],
            ['admin', 'system', resource],
          ],
        );
        assert.deepEqual(
          rows.map((r) => Object.keys(JSON.parse(r.detail ?? '{}')).sort()),
          [['job'], ['job']],
        );
      });

      it(`${type}: a user who is not a system admin is refused both ways and nothing is queued`, async () => {
        const before = await jobCount(type);
        const auditBefore = (await audit(action)).length;
        const viaRest = await t.req(rest, { method: 'POST', auth: ['dora', 'dora-pw-123'] });
        assert.equal(viaRest.status, 403);
        const anonymous = await t.req(rest, { method: 'POST' });
        assert.equal(anonymous.status, 401);
        const b = new Browser(t);
        await b.login('dora', 'dora-pw-123');
        const viaUi = await b.post(`/jobs/run/${type}`, { _csrf: await b.csrf() });
        assert.equal(viaUi.status, 403);
        assert.equal(await jobCount(type), before);
        assert.equal((await audit(action)).length, auditBefore);
      });
    }

    it('the audit log names what a system operation worked on in the reader’s language', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const html = async (lang: string) => (await b.fetch('/audit-logs', { headers: { 'accept-language': lang } })).text();
      const zh = await html('zh-CN');
      assert.match(zh, /<span data-resource="artifacts">全部制品<\/span>/);
      assert.match(zh, /<span data-resource="registry">镜像仓库服务<\/span>/);
      const en = await html('en');
      assert.match(en, /<span data-resource="artifacts">all artifacts<\/span>/);
      assert.match(en, /<span data-resource="registry">the registry<\/span>/);
    });

    it('the job center refuses a job type it does not offer', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const res = await b.post('/jobs/run/gc', { _csrf: await b.csrf() });
      assert.equal(res.status, 404);
    });
  });
}
