import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * Every body is parsed by a schema at the route (REST: the operation's, UI: the form's, then the REST body's for what
 * is built from it): a body of the wrong shape is a 400 naming the field, before any service sees it, and the rules
 * beyond shape stay in the services and still answer.
 */
for (const dialect of testDialects()) {
  describe(`request bodies are parsed at the route [${dialect}]`, () => {
    let t: TestApp;
    let owner: [string, string];
    before(async () => {
      t = await startTestApp(dialect);
      owner = await createUser(t, 'owner');
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: owner, json: { name: 'bodies' } })).status, 201);
    });
    after(async () => {
      await t?.close({ drop: true });
    });

    const send = async (method: string, path: string, json: unknown, auth = owner) => {
      const res = await t.req(`/api/v1${path}`, { method, auth, json });
      return { status: res.status, message: res.status >= 400 ? ((await res.json()) as { errors: { message: string }[] }).errors[0]!.message : '' };
    };

    it('a wrong shape is a 400 naming the field, on every body that services once parsed themselves', async () => {
      const cases: [string, string, unknown, RegExp][] = [
        ['PUT', '/projects/bodies/retention', { rules: 'all' }, /^rules: /],
        ['PUT', '/projects/bodies/retention', { rules: [], keep: 1 }, /"keep"/],
        ['POST', '/robots', { name: 'ci', project: 'bodies' }, /^permissions: /],
        ['PUT', '/robots/1', { disabled: 'yes' }, /^disabled: /],
        ['PUT', '/projects/bodies', { severity: 'dire' }, /^severity: /],
        ['POST', '/projects/bodies/webhooks', { url: 'http://127.0.0.1:9/x', event_types: ['NOPE'] }, /^event_types\.0: /],
        ['PUT', '/projects/bodies/webhooks/1', { enabled: 'no' }, /^enabled: /],
        ['PUT', '/projects/bodies/scanner', { scanner: 5 }, /scanner/],
      ];
      for (const [method, path, json, message] of cases) {
        const res = await send(method, path, json);
        assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(json)}`);
        assert.match(res.message, message, `${method} ${path}`);
      }
      const auth = await send('PUT', '/system/auth', { mode: 'kerberos' }, ADMIN);
      assert.equal(auth.status, 400);
      assert.match(auth.message, /^mode: /);
      const system = await send('PUT', '/system/scanner', { scanner: 5 }, ADMIN);
      assert.equal(system.status, 400);
    });

    it('the rules beyond shape still answer from the services', async () => {
      const cron = await send('PUT', '/projects/bodies/retention', { rules: [], schedule: 'every day' });
      assert.equal(cron.status, 400);
      assert.match(cron.message, /^schedule: /);
      const name = await send('POST', '/robots', { name: 'Not_A_Name', project: 'bodies', permissions: [{ project: 'bodies', actions: ['pull'] }] });
      assert.equal(name.status, 400);
      assert.match(name.message, /robot name/);
      const signed = await send('PUT', '/projects/bodies', { require_signature: true });
      assert.equal(signed.status, 400);
      assert.match(signed.message, /signature_keys/);
      const ldap = await send('PUT', '/system/auth', { mode: 'ldap' }, ADMIN);
      assert.equal(ldap.status, 400);
      assert.match(ldap.message, /LDAP mode needs/);
      // A project admin may not hand Berth a URL: refused as before, now with the body parsed first.
      assert.equal((await send('PUT', '/projects/bodies/scanner', { url: 'http://127.0.0.1:9/' })).status, 403);
    });

    it('a body that is not JSON is a 415, and a well-formed one still works', async () => {
      const res = await t.req('/api/v1/projects/bodies/retention', { method: 'PUT', auth: owner, body: 'rules=[]', headers: { 'content-type': 'text/plain' } });
      assert.equal(res.status, 415);
      const ok = await send('PUT', '/projects/bodies/retention', { rules: [{ repositories: '**', tags: '**', untagged: true, retain: { kind: 'latest_pushed', count: 3 } }], schedule: null });
      assert.equal(ok.status, 200);
      assert.equal((await send('PUT', '/projects/bodies', { severity: 'high', auto_scan: true })).status, 200);
    });

    it('a UI form value built into a body is parsed by the REST schema: 422 with its problem, nothing saved', async () => {
      const b = new Browser(t);
      assert.equal((await b.login('owner', owner[1])).status, 303);
      const csrf = await b.csrf();
      const res = await b.post('/projects/bodies/settings', { _csrf: csrf, severity: 'dire', unscanned_policy: 'allow', auto_scan: 'true' });
      assert.equal(res.status, 422);
      assert.match(await res.text(), /severity: /);
      const p = await (await t.req('/api/v1/projects/bodies', { auth: owner })).json();
      assert.equal(p.severity, 'high', 'unchanged by the refused form');
      // A field sent twice is read once (its first value), never as a list where the form has one value.
      const twice = await b.fetch('/projects', {
        method: 'POST',
        body: `_csrf=${encodeURIComponent(csrf)}&name=twice-a&name=twice-b`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(twice.status, 303);
      assert.equal((await t.req('/api/v1/projects/twice-a', { auth: owner })).status, 200);
      assert.equal((await t.req('/api/v1/projects/twice-b', { auth: owner })).status, 404);
    });
  });
}
