import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

for (const dialect of testDialects()) {
  describe(`users API [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t.close({ drop: true }));

    it('health names each component and is not ok while the registry is down', async () => {
      const res = await t.req('/api/v1/health');
      assert.equal(res.status, 503);
      const body = await res.json();
      assert.equal(body.components.database.status, 'ok');
      assert.equal(body.components.registry.status, 'down');
    });

    it('admin Basic auth works; a wrong password gets 401 with the registry error shape', async () => {
      assert.equal((await t.req('/api/v1/users/current', { auth: ADMIN })).status, 200);
      const bad = await t.req('/api/v1/users/current', { auth: ['admin', 'nope'] });
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Basic/);
      const body = await bad.json();
      assert.equal(body.errors[0].code, 'UNAUTHORIZED');
    });

    it('anonymous callers get 401 on user endpoints', async () => {
      assert.equal((await t.req('/api/v1/users')).status, 401);
    });

    it('creates a user (201), refuses a duplicate (409) and bad input (400)', async () => {
      const res = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'alice', password: 'alice-pw-123', email: 'a@example.org' } });
      assert.equal(res.status, 201);
      const u = await res.json();
      assert.equal(u.username, 'alice');
      assert.equal(u.admin, false);
      assert.equal('password_hash' in u, false);
      assert.equal((await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'alice', password: 'other-pw-123' } })).status, 409);
      for (const body of [
        { username: 'x y', password: 'long-enough' },
        { username: 'bob', password: 'short' },
        { username: 'bob' },
        { username: 'robot$x', password: 'long-enough' },
        { username: 'bob', password: 'long-enough', email: '<b>' },
      ]) {
        const r = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: body });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal((await r.json()).errors[0].code, 'BAD_REQUEST');
      }
    });

    it('refuses non-JSON and malformed JSON bodies', async () => {
      const r1 = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, body: 'username=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(r1.status, 415);
      const r2 = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, body: '{"username":', headers: { 'content-type': 'application/json' } });
      assert.equal(r2.status, 400);
    });

    it('a non-admin cannot create or list users (403) but can read and change their own account', async () => {
      const bob = await createUser(t, 'bob');
      assert.equal((await t.req('/api/v1/users', { method: 'POST', auth: bob, json: { username: 'eve', password: 'eve-pw-1234' } })).status, 403);
      assert.equal((await t.req('/api/v1/users', { auth: bob })).status, 403);
      const me = await (await t.req('/api/v1/users/current', { auth: bob })).json();
      assert.equal((await t.req(`/api/v1/users/${me.id}`, { auth: bob })).status, 200);
      assert.equal((await t.req('/api/v1/users/1', { auth: bob })).status, 403);
      const wrongOld = await t.req(`/api/v1/users/${me.id}/password`, { method: 'PUT', auth: bob, json: { old_password: 'nope', new_password: 'bob-new-pw-1' } });
      assert.equal(wrongOld.status, 400);
      const ok = await t.req(`/api/v1/users/${me.id}/password`, { method: 'PUT', auth: bob, json: { old_password: bob[1], new_password: 'bob-new-pw-1' } });
      assert.equal(ok.status, 204);
      assert.equal((await t.req('/api/v1/users/current', { auth: bob })).status, 401);
      assert.equal((await t.req('/api/v1/users/current', { auth: ['bob', 'bob-new-pw-1'] })).status, 200);
    });

    it('admin lists with pagination and search; SQL metacharacters in search do no harm', async () => {
      for (const n of ['carol', 'carl', 'dave']) await createUser(t, n);
      const page1 = await (await t.req('/api/v1/users?q=car&limit=1&page=1', { auth: ADMIN })).json();
      assert.equal(page1.total, 2);
      assert.equal(page1.items.length, 1);
      assert.equal(page1.items[0].username, 'carl');
      const page2 = await (await t.req('/api/v1/users?q=car&limit=1&page=2', { auth: ADMIN })).json();
      assert.equal(page2.items[0].username, 'carol');
      for (const q of ["'", '%', '_', "' OR 1=1 --", '"; drop table users; --', '\\']) {
        const r = await t.req(`/api/v1/users?q=${encodeURIComponent(q)}`, { auth: ADMIN });
        assert.equal(r.status, 200, q);
        assert.equal((await r.json()).total, 0, `search for ${q} matched something`);
      }
      assert.equal((await t.req('/api/v1/users?limit=1000', { auth: ADMIN })).status, 400);
      assert.equal((await t.req('/api/v1/users?page=-1', { auth: ADMIN })).status, 400);
    });

    it('a disabled user cannot authenticate; deleting removes the user', async () => {
      const eve = await createUser(t, 'eve');
      const id = (await (await t.req('/api/v1/users/current', { auth: eve })).json()).id;
      assert.equal((await t.req(`/api/v1/users/${id}`, { method: 'PUT', auth: ADMIN, json: { disabled: true } })).status, 200);
      assert.equal((await t.req('/api/v1/users/current', { auth: eve })).status, 401);
      assert.equal((await t.req(`/api/v1/users/${id}`, { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.equal((await t.req(`/api/v1/users/${id}`, { auth: ADMIN })).status, 404);
      assert.equal((await t.req('/api/v1/users/abc', { auth: ADMIN })).status, 404);
    });

    it('an admin cannot disable, demote or delete themselves, over REST or on the users page (one rule, in the account service)', async () => {
      for (const json of [{ disabled: true }, { admin: false }, { disabled: true, admin: true }]) {
        const res = await t.req('/api/v1/users/1', { method: 'PUT', auth: ADMIN, json });
        assert.equal(res.status, 400, JSON.stringify(json));
        assert.match((await res.json()).errors[0].message, /you cannot (disable yourself|drop your own admin flag)/);
      }
      assert.equal((await t.req('/api/v1/users/1', { method: 'DELETE', auth: ADMIN })).status, 400);
      const ui = new Browser(t);
      await ui.login('admin', ADMIN_PASSWORD);
      assert.equal((await ui.post('/users/1/disable', { _csrf: await ui.csrf() })).status, 400);
      assert.equal((await ui.post('/users/1/delete', { _csrf: await ui.csrf() })).status, 400);
      const me = await (await t.req('/api/v1/users/1', { auth: ADMIN })).json();
      assert.deepEqual([me.admin, me.disabled], [true, false]);
      // another admin may do each of these to this one
      const other = await createUser(t, 'second-admin');
      const otherId = (await (await t.req(`/api/v1/users?q=second-admin`, { auth: ADMIN })).json()).items[0].id;
      assert.equal((await t.req(`/api/v1/users/${otherId}`, { method: 'PUT', auth: ADMIN, json: { admin: true } })).status, 200);
      assert.equal((await t.req('/api/v1/users/1', { method: 'PUT', auth: other, json: { admin: false } })).status, 200);
      assert.equal((await t.req('/api/v1/users/1', { method: 'PUT', auth: other, json: { admin: true } })).status, 200);
      assert.equal((await t.req(`/api/v1/users/${otherId}`, { method: 'DELETE', auth: ADMIN })).status, 204);
    });

    it('repeated failures lock the login temporarily, even for the right password', async () => {
      const mallory = await createUser(t, 'mallory');
      for (let i = 0; i < 5; i++) assert.equal((await t.req('/api/v1/users/current', { auth: ['mallory', `wrong-${i}`] })).status, 401);
      const locked = await t.req('/api/v1/users/current', { auth: mallory });
      assert.equal(locked.status, 429);
      assert.ok(locked.headers.get('retry-after'));
      // The lockout is per user: admin is unaffected.
      assert.equal((await t.req('/api/v1/users/current', { auth: ADMIN })).status, 200);
    });

    it('oversized bodies get 413', async () => {
      const big = JSON.stringify({ username: 'x', password: 'y'.repeat(2 * 1024 * 1024) });
      const res = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, body: big, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 413);
      assert.equal((await res.json()).errors[0].code, 'TOO_LARGE');
    });

    it('records management actions in the audit log, filterable and paginated', async () => {
      const all = await (await t.req('/api/v1/audit-logs?resource_type=user&limit=2', { auth: ADMIN })).json();
      assert.equal(all.items.length, 2);
      assert.ok(all.next_cursor);
      const next = await (await t.req(`/api/v1/audit-logs?resource_type=user&limit=2&cursor=${all.next_cursor}`, { auth: ADMIN })).json();
      assert.ok(next.items[0].id < all.items[1].id);
      const created = await (await t.req('/api/v1/audit-logs?action=create&resource=alice', { auth: ADMIN })).json();
      assert.equal(created.items.length, 1);
      assert.equal(created.items[0].username, 'admin');
      assert.equal(created.items[0].resource_type, 'user');
      assert.ok(created.items[0].client_ip);
      assert.ok(created.items[0].time);
      const bob = ['bob', 'bob-new-pw-1'] as [string, string];
      assert.equal((await t.req('/api/v1/audit-logs', { auth: bob })).status, 403);
      assert.equal((await t.req('/api/v1/audit-logs?from=yesterday', { auth: ADMIN })).status, 400);
    });

    it('the admin password from the environment works and is never stored in clear', async () => {
      const row = await t.db.selectFrom('users').select('password_hash').where('username', '=', 'admin').executeTakeFirstOrThrow();
      assert.ok(!row.password_hash.includes(ADMIN_PASSWORD));
      assert.match(row.password_hash, /^scrypt\$/);
    });
  });
}
