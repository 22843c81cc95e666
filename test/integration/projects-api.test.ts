import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

for (const dialect of testDialects()) {
  describe(`projects API [${dialect}]`, () => {
    let t: TestApp;
    let alice: [string, string];
    let dev: [string, string];
    let guest: [string, string];
    let outsider: [string, string];
    before(async () => {
      t = await startTestApp(dialect);
      alice = await createUser(t, 'alice');
      dev = await createUser(t, 'dev');
      guest = await createUser(t, 'guest1');
      outsider = await createUser(t, 'outsider');
    });
    after(async () => t?.close({ drop: true }));

    it('creates a project (201); a duplicate gets 409; invalid names get 400', async () => {
      const res = await t.req('/api/v1/projects', { method: 'POST', auth: alice, json: { name: 'p1', public: false } });
      assert.equal(res.status, 201);
      const p = await res.json();
      assert.equal(p.name, 'p1');
      assert.equal(p.public, false);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'p1' } })).status, 409);
      for (const name of ['P1', 'a', '-x', 'x/y', "x'; drop table projects; --", '<script>', 'a'.repeat(256), 12]) {
        const r = await t.req('/api/v1/projects', { method: 'POST', auth: alice, json: { name } });
        assert.equal(r.status, 400, String(name));
      }
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: alice, json: { name: 'p2', public: 'yes' } })).status, 400);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', json: { name: 'anon' } })).status, 401);
    });

    it('the creator is the project admin; adding a member returns 201 and lists them with their role', async () => {
      const add = await t.req('/api/v1/projects/p1/members', { method: 'POST', auth: alice, json: { username: 'dev', role: 'developer' } });
      assert.equal(add.status, 201);
      assert.equal((await t.req('/api/v1/projects/p1/members', { method: 'POST', auth: alice, json: { username: 'guest1', role: 'guest' } })).status, 201);
      const list = await (await t.req('/api/v1/projects/p1/members', { auth: alice })).json();
      const roles = Object.fromEntries(list.items.map((m: { username: string; role: string }) => [m.username, m.role]));
      assert.deepEqual(roles, { alice: 'admin', dev: 'developer', guest1: 'guest' });
      assert.equal((await t.req('/api/v1/projects/p1/members', { method: 'POST', auth: alice, json: { username: 'dev', role: 'guest' } })).status, 409);
      assert.equal((await t.req('/api/v1/projects/p1/members', { method: 'POST', auth: alice, json: { username: 'nobody', role: 'guest' } })).status, 404);
      assert.equal((await t.req('/api/v1/projects/p1/members', { method: 'POST', auth: alice, json: { username: 'outsider', role: 'owner' } })).status, 400);
    });

    it('a developer cannot delete the project or manage members (403)', async () => {
      assert.equal((await t.req('/api/v1/projects/p1', { method: 'DELETE', auth: dev })).status, 403);
      assert.equal((await t.req('/api/v1/projects/p1/members', { method: 'POST', auth: dev, json: { username: 'outsider', role: 'guest' } })).status, 403);
      assert.equal((await t.req('/api/v1/projects/p1', { method: 'PUT', auth: dev, json: { public: true } })).status, 403);
      const me = await (await t.req('/api/v1/projects/p1', { auth: dev })).json();
      assert.equal(me.current_user_role, 'developer');
    });

    it('private projects are invisible to outsiders; public ones are listed for everyone', async () => {
      // Unreadable is answered like missing (404), so private names cannot be probed.
      assert.equal((await t.req('/api/v1/projects/p1', { auth: outsider })).status, 404);
      assert.equal((await t.req('/api/v1/projects/p1')).status, 404);
      assert.equal((await t.req('/api/v1/projects/p1/members', { auth: outsider })).status, 404);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: alice, json: { name: 'pub', public: true } })).status, 201);
      const names = async (auth?: [string, string]) => (await (await t.req('/api/v1/projects', { auth })).json()).items.map((p: { name: string }) => p.name);
      assert.deepEqual(await names(outsider), ['pub']);
      assert.deepEqual(await names(), ['pub']);
      assert.deepEqual(await names(dev), ['p1', 'pub']);
      assert.deepEqual(await names(ADMIN), ['p1', 'pub']);
      assert.equal((await t.req('/api/v1/projects/pub')).status, 200);
      assert.equal((await t.req('/api/v1/projects/nope', { auth: ADMIN })).status, 404);
    });

    it('search treats SQL metacharacters literally and paginates', async () => {
      for (const n of ['search-a', 'search-b', 'search_c']) await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: n } });
      const like = await (await t.req('/api/v1/projects?q=search_&limit=10', { auth: ADMIN })).json();
      assert.deepEqual(
        like.items.map((p: { name: string }) => p.name),
        ['search_c'],
      );
      const pct = await (await t.req(`/api/v1/projects?q=${encodeURIComponent('%')}`, { auth: ADMIN })).json();
      assert.equal(pct.total, 0);
      const inj = await t.req(`/api/v1/projects?q=${encodeURIComponent("' or '1'='1")}`, { auth: ADMIN });
      assert.equal((await inj.json()).total, 0);
      const p2 = await (await t.req('/api/v1/projects?q=search&limit=2&page=2', { auth: ADMIN })).json();
      assert.equal(p2.total, 3);
      assert.equal(p2.items.length, 1);
    });

    it('updates settings with validation', async () => {
      const res = await t.req('/api/v1/projects/p1', {
        method: 'PUT',
        auth: alice,
        json: { auto_scan: false, prevent_vulnerable: true, severity: 'high', cve_allowlist: ['cve-2024-1234', 'GHSA-aaaa-bbbb-cccc'], immutable_tags: ['v*'], quota_bytes: 1024 },
      });
      assert.equal(res.status, 200);
      const p = await res.json();
      assert.equal(p.severity, 'high');
      assert.deepEqual(p.cve_allowlist, ['CVE-2024-1234', 'GHSA-AAAA-BBBB-CCCC']);
      assert.equal(p.prevent_vulnerable, true);
      for (const body of [{ severity: 'extreme' }, { quota_bytes: -1 }, { cve_allowlist: ['<script>'] }, { unknown: 1 }, { public: 'true' }]) {
        assert.equal((await t.req('/api/v1/projects/p1', { method: 'PUT', auth: alice, json: body })).status, 400, JSON.stringify(body));
      }
    });

    it('changes a role and removes a member', async () => {
      const list = await (await t.req('/api/v1/projects/p1/members', { auth: alice })).json();
      const guestId = list.items.find((m: { username: string }) => m.username === 'guest1').user_id;
      assert.equal((await t.req(`/api/v1/projects/p1/members/${guestId}`, { method: 'PUT', auth: alice, json: { role: 'developer' } })).status, 204);
      assert.equal((await (await t.req('/api/v1/projects/p1', { auth: guest })).json()).current_user_role, 'developer');
      assert.equal((await t.req(`/api/v1/projects/p1/members/${guestId}`, { method: 'DELETE', auth: alice })).status, 204);
      assert.equal((await t.req('/api/v1/projects/p1', { auth: guest })).status, 404);
      assert.equal((await t.req(`/api/v1/projects/p1/members/${guestId}`, { method: 'DELETE', auth: alice })).status, 404);
    });

    it('the project admin deletes the project; the audit log names who did what', async () => {
      assert.equal((await t.req('/api/v1/projects/pub', { method: 'DELETE', auth: alice })).status, 204);
      assert.equal((await t.req('/api/v1/projects/pub', { auth: ADMIN })).status, 404);
      const log = await (await t.req('/api/v1/audit-logs?resource_type=project&username=alice', { auth: ADMIN })).json();
      const actions = log.items.map((e: { action: string; resource: string }) => `${e.action} ${e.resource}`);
      assert.ok(actions.includes('delete pub'));
      assert.ok(actions.includes('create p1'));
      assert.ok(actions.includes('add_member p1'));
    });

    it('data survives a restart', async () => {
      t = await t.restart();
      const p = await t.req('/api/v1/projects/p1', { auth: dev });
      assert.equal(p.status, 200);
      assert.equal((await p.json()).severity, 'high');
      assert.equal((await t.req('/api/v1/users/current', { auth: alice })).status, 200);
    });
  });
}
