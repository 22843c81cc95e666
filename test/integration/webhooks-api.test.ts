import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { startReceiver } from '../helpers/receiver.js';

for (const dialect of testDialects()) {
  describe(`project webhooks API [${dialect}]`, () => {
    let t: TestApp;
    let owner: [string, string];
    let dev: [string, string];
    let outsider: [string, string];
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let id = 0;
    before(async () => {
      t = await startTestApp(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' }); // receivers on loopback: allowed explicitly
      rx = await startReceiver();
      owner = await createUser(t, 'owner');
      dev = await createUser(t, 'dev');
      outsider = await createUser(t, 'outsider');
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: owner, json: { name: 'wh' } })).status, 201);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pub', public: true } });
      await t.req('/api/v1/projects/wh/members', { method: 'POST', auth: owner, json: { username: 'dev', role: 'developer' } });
    });
    after(async () => {
      await t?.close({ drop: true });
      await rx?.close();
    });

    it('creates a policy (201) with defaults; never shows the secret or auth header back', async () => {
      const res = await t.req('/api/v1/projects/wh/webhooks', {
        method: 'POST',
        auth: owner,
        json: { url: `${rx.url}/hook`, event_types: ['PUSH_ARTIFACT', 'PUSH_ARTIFACT', 'TAG_RETENTION'], secret: 's3cret-value', auth_header: 'Bearer x' },
      });
      assert.equal(res.status, 201, await res.clone().text());
      const w = await res.json();
      id = w.id;
      assert.equal(w.format, 'default');
      assert.deepEqual(w.event_types, ['PUSH_ARTIFACT', 'TAG_RETENTION']);
      assert.equal(w.enabled, true);
      assert.equal(w.has_secret, true);
      assert.equal(w.has_auth_header, true);
      assert.equal(w.last_triggered_at, null);
      const text = JSON.stringify(await (await t.req('/api/v1/projects/wh/webhooks', { auth: owner })).json());
      assert.ok(!text.includes('s3cret-value') && !text.includes('Bearer x'), text);
      assert.equal(res.headers.get('location'), `/api/v1/projects/wh/webhooks/${id}`);
    });

    it('refuses malformed policies with 400', async () => {
      const bad = [
        { url: 'ftp://127.0.0.1/x', event_types: ['PUSH_ARTIFACT'] },
        { url: 'http://user:pw@127.0.0.1/x', event_types: ['PUSH_ARTIFACT'] },
        { url: 'not a url', event_types: ['PUSH_ARTIFACT'] },
        { url: `${rx.url}/x`, event_types: [] },
        { url: `${rx.url}/x`, event_types: ['PUSH_IMAGE'] },
        { url: `${rx.url}/x`, event_types: ['PUSH_ARTIFACT'], format: 'xml' },
        { url: `${rx.url}/x`, event_types: ['PUSH_ARTIFACT'], auth_header: 'Bearer x\r\nX-Injected: 1' },
        { url: `${rx.url}/x`, event_types: ['PUSH_ARTIFACT'], secret: 'short' },
        { url: `${rx.url}/x`, event_types: ['PUSH_ARTIFACT'], surprise: true },
        { url: `${rx.url}/${'x'.repeat(3000)}`, event_types: ['PUSH_ARTIFACT'] },
      ];
      for (const json of bad) assert.equal((await t.req('/api/v1/projects/wh/webhooks', { method: 'POST', auth: owner, json })).status, 400, JSON.stringify(json).slice(0, 80));
      assert.equal((await t.req('/api/v1/projects/wh/webhooks', { method: 'POST', auth: owner, body: 'x', headers: { 'content-type': 'text/plain' } })).status, 415);
    });

    it('only project admins manage webhooks: developers 403, outsiders 404 (a private project is not there for them), anonymous 401, unknown ids 404', async () => {
      const json = { url: `${rx.url}/x`, event_types: ['PUSH_ARTIFACT'] };
      for (const [who, status] of [
        [dev, 403],
        [outsider, 404],
      ] as const) {
        assert.equal((await t.req('/api/v1/projects/wh/webhooks', { auth: who })).status, status);
        assert.equal((await t.req('/api/v1/projects/wh/webhooks', { method: 'POST', auth: who, json })).status, status);
        assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}`, { auth: who })).status, status);
        assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}`, { method: 'PUT', auth: who, json: { enabled: false } })).status, status);
        assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}`, { method: 'DELETE', auth: who })).status, status);
        assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}/deliveries`, { auth: who })).status, status);
        assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}/test`, { method: 'POST', auth: who })).status, status);
      }
      // Anonymous callers are refused before any project is looked up: the same 401 for a private, a public and a
      // missing project.
      for (const p of ['wh', 'pub', 'nope']) assert.equal((await t.req(`/api/v1/projects/${p}/webhooks`)).status, 401, p);
      assert.equal((await t.req('/api/v1/projects/pub/webhooks', { auth: outsider })).status, 403);
      assert.equal((await t.req('/api/v1/projects/wh/webhooks/99999', { auth: owner })).status, 404);
      assert.equal((await t.req('/api/v1/projects/wh/webhooks/abc', { auth: owner })).status, 404);
      // a policy is reached only through its own project
      assert.equal((await t.req(`/api/v1/projects/pub/webhooks/${id}`, { auth: ADMIN })).status, 404);
      assert.equal((await t.req('/api/v1/projects/nope/webhooks', { auth: ADMIN })).status, 404);
    });

    it('the test button sends a signed sample now and logs it with status code and latency', async () => {
      const res = await t.req(`/api/v1/projects/wh/webhooks/${id}/test`, { method: 'POST', auth: owner });
      assert.equal(res.status, 200);
      const out = await res.json();
      assert.equal(out.delivered, true);
      assert.equal(out.status_code, 200);
      const got = rx.got.at(-1)!;
      assert.equal(got.path, '/hook');
      assert.equal(got.body.type, 'PUSH_ARTIFACT');
      assert.equal(got.headers.authorization, 'Bearer x');
      assert.equal(got.headers['x-berth-signature'], `sha256=${createHmac('sha256', 's3cret-value').update(got.raw).digest('hex')}`);
      rx.setStatus(500);
      const failed = await (await t.req(`/api/v1/projects/wh/webhooks/${id}/test`, { method: 'POST', auth: owner })).json();
      assert.equal(failed.delivered, false);
      assert.equal(failed.status_code, 500);
      rx.setStatus(200);
      const log = await (await t.req(`/api/v1/projects/wh/webhooks/${id}/deliveries?limit=1`, { auth: owner })).json();
      assert.equal(log.items.length, 1);
      assert.equal(log.items[0].status_code, 500);
      assert.equal(log.items[0].error, 'HTTP 500');
      assert.ok(log.next_cursor);
      const older = await (await t.req(`/api/v1/projects/wh/webhooks/${id}/deliveries?cursor=${log.next_cursor}`, { auth: owner })).json();
      assert.equal(older.items.length, 1);
      assert.equal(older.items[0].status_code, 200);
      assert.equal(typeof older.items[0].latency_ms, 'number');
    });

    it('the Webhooks tab lists, creates (422 on bad input), tests and shows the delivery log; developers are refused', async () => {
      const ui = new Browser(t);
      await ui.login(...owner);
      const csrf = await ui.csrf();
      const tab = await (await ui.fetch('/projects/wh/webhooks')).text();
      assert.match(tab, /New webhook/);
      assert.match(tab, /href="\/projects\/wh\/webhooks" aria-current="page"/);
      const form = new URLSearchParams({ _csrf: csrf, url: `${rx.url}/ui`, format: 'cloudevents', enabled: 'true' });
      form.append('event_types', 'PUSH_ARTIFACT');
      form.append('event_types', 'SCANNING_COMPLETED');
      const created = await ui.fetch('/projects/wh/webhooks', { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(created.status, 303);
      const list = await (await t.req('/api/v1/projects/wh/webhooks', { auth: owner })).json();
      const w = list.items.find((x: { url: string }) => x.url === `${rx.url}/ui`);
      assert.deepEqual(w.event_types, ['PUSH_ARTIFACT', 'SCANNING_COMPLETED']);
      assert.equal(w.format, 'cloudevents');
      const bad = await ui.post('/projects/wh/webhooks', { _csrf: csrf, url: 'javascript:alert(1)', event_types: 'PUSH_ARTIFACT' });
      assert.equal(bad.status, 422);
      assert.match(await bad.text(), /must be an http\(s\) URL/);
      const tested = await ui.post(`/projects/wh/webhooks/${w.id}/test`, { _csrf: csrf });
      assert.equal(tested.status, 303);
      assert.equal(rx.got.at(-1)!.path, '/ui');
      const show = await (await ui.fetch(`/projects/wh/webhooks/${w.id}`)).text();
      assert.match(show, /Test event delivered: HTTP 200/);
      assert.match(show, /<td>200<\/td>/);
      assert.equal((await ui.post(`/projects/wh/webhooks/${w.id}/test`, {})).status, 403, 'CSRF token required');
      const devUi = new Browser(t);
      await devUi.login(...dev);
      assert.equal((await devUi.fetch('/projects/wh/webhooks')).status, 403);
      assert.doesNotMatch(await (await devUi.fetch('/projects/wh')).text(), /Webhooks/);
      assert.equal((await ui.post(`/projects/wh/webhooks/${w.id}/delete`, { _csrf: csrf })).status, 303);
    });

    it('updates a policy (secret null removes it, absent keeps it) and deletes it; a project deletion removes its policies', async () => {
      const put = await t.req(`/api/v1/projects/wh/webhooks/${id}`, { method: 'PUT', auth: owner, json: { format: 'slack', secret: null, enabled: false } });
      assert.equal(put.status, 200);
      const w = await put.json();
      assert.equal(w.format, 'slack');
      assert.equal(w.has_secret, false);
      assert.equal(w.has_auth_header, true);
      assert.equal(w.enabled, false);
      assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}`, { method: 'PUT', auth: owner, json: { format: 'nope' } })).status, 400);
      assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}`, { method: 'DELETE', auth: owner })).status, 204);
      assert.equal((await t.req(`/api/v1/projects/wh/webhooks/${id}`, { auth: owner })).status, 404);
      const again = await (await t.req('/api/v1/projects/wh/webhooks', { method: 'POST', auth: owner, json: { url: `${rx.url}/x`, event_types: ['PUSH_ARTIFACT'] } })).json();
      assert.equal((await t.req('/api/v1/projects/wh', { method: 'DELETE', auth: owner })).status, 204);
      const left = await t.db.selectFrom('webhook_policies').select('id').where('id', '=', again.id).execute();
      assert.equal(left.length, 0);
    });
  });
}
