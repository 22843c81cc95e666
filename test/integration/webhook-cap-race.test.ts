import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertWebhookPolicy } from '../../src/db/repos/webhooks.js';
import { MAX_WEBHOOK_POLICIES } from '../../src/services/webhook-service.js';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { projectId } from '../helpers/seed.js';

/**
 * The per-project bound on webhook policies (the only per-project limit Berth decides by counting rows; the other
 * bounded lists — allowlists, immutable tags, signature keys, retention rules, robot permissions — are replaced whole
 * and bounded by their schema) holds under concurrent creates: REST and UI at once, and on MariaDB a second core on
 * the same database (a replica: its own pool and caches). A project a few short of the bound takes exactly that many.
 */
for (const dialect of testDialects()) {
  describe(`webhook policy bound under concurrent creates [${dialect}]`, () => {
    let t: TestApp;
    let replica: TestApp | null = null;
    const SHORT = 3;
    before(async () => {
      t = await startTestApp(dialect);
      if (dialect === 'mysql') replica = await startTestApp(dialect, {}, t.database);
    });
    after(async () => {
      await replica?.close();
      await t?.close({ drop: true });
    });

    it(`a project ${SHORT} short of the bound takes ${SHORT} more, whoever asks at once`, async () => {
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'racing-hooks' } })).status, 201);
      const project = await projectId(t.db, 'racing-hooks');
      const input = { name: 'h', url: 'http://127.0.0.1:9/h', format: 'default' as const, eventTypes: ['PUSH_ARTIFACT'], authHeader: null, secret: null, skipTlsVerify: false, enabled: true };
      for (let i = 0; i < MAX_WEBHOOK_POLICIES - SHORT; i++) await insertWebhookPolicy(t.db, project, input, 'admin', Date.now());
      const ui = new Browser(t);
      await ui.login(ADMIN[0], ADMIN[1]);
      const csrf = await ui.csrf();
      const json = (i: number) => ({ url: `http://127.0.0.1:9/race-${i}`, event_types: ['PUSH_ARTIFACT'] });
      const path = '/api/v1/projects/racing-hooks/webhooks';
      const attempts: Promise<'created' | 'refused'>[] = [];
      for (let i = 0; i < 30; i++) {
        const via = i % 3;
        if (via === 0)
          attempts.push(
            ui.post('/projects/racing-hooks/webhooks', { _csrf: csrf, url: json(i).url, format: 'default', event_types: 'PUSH_ARTIFACT', enabled: 'true' }).then(async (r) => {
              if (r.status === 303 || r.status === 302) return 'created';
              assert.equal(r.status, 422, `UI: ${r.status}`);
              assert.match(await r.text(), /delete one first/);
              return 'refused';
            }),
          );
        else {
          const app = via === 2 && replica ? replica : t;
          attempts.push(
            app.req(path, { method: 'POST', auth: ADMIN, json: json(i) }).then(async (r) => {
              if (r.status === 201) return 'created';
              assert.equal(r.status, 409, `REST: ${r.status} ${await r.clone().text()}`);
              return 'refused';
            }),
          );
        }
      }
      const outcomes = await Promise.all(attempts);
      const count = Number(
        (
          await t.db
            .selectFrom('webhook_policies')
            .select((e) => e.fn.countAll<number>().as('n'))
            .where('project_id', '=', project)
            .executeTakeFirstOrThrow()
        ).n,
      );
      assert.equal(count, MAX_WEBHOOK_POLICIES, 'the bound holds exactly');
      assert.equal(outcomes.filter((o) => o === 'created').length, SHORT, 'every create the bound allowed succeeded, no more');
      const listed = await (await t.req(`${path}?limit=1`, { auth: ADMIN })).json();
      assert.equal(listed.total, MAX_WEBHOOK_POLICIES);
    });
  });
}
