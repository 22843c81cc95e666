import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { replaceUserGroups } from '../../src/db/repos/groups.js';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

type Access = { type: string; name: string; actions: string[] };

// Directory sign-ins (LDAP, OIDC) store each user's groups; here they are set directly, as a sign-in would, so this
// suite covers the rule itself on every way in: REST, token issuing, UI, project visibility.
for (const dialect of testDialects()) {
  describe(`groups as project members [${dialect}]`, () => {
    let t: TestApp;
    let carol: [string, string];
    let carolId: number;
    const TEAM = 'cn=team-a,ou=groups,dc=example,dc=org';
    before(async () => {
      t = await startTestApp(dialect);
      carol = await createUser(t, 'carol');
      carolId = (await t.services.accounts.getUserByName('carol'))!.id;
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gp' } });
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'other' } });
    });
    after(async () => t?.close({ drop: true }));

    const access = async (scope: string, auth: [string, string]): Promise<string[]> => {
      const res = await t.req(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, { auth });
      assert.equal(res.status, 200);
      const body = await res.json();
      return (JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()).access as Access[])[0]!.actions;
    };

    it('adds a group member (201), lists it after the users, refuses duplicates, bad names, both fields, bad roles', async () => {
      const res = await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: ADMIN, json: { group: TEAM, role: 'developer' } });
      assert.equal(res.status, 201);
      const m = await res.json();
      assert.equal(m.member_type, 'group');
      assert.equal(m.group, TEAM);
      assert.equal(m.role, 'developer');
      assert.equal((await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: ADMIN, json: { group: TEAM, role: 'guest' } })).status, 409);
      for (const group of ['', ' x', 'a\u0000b', 'x'.repeat(256), 42]) {
        assert.equal((await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: ADMIN, json: { group, role: 'guest' } })).status, 400, JSON.stringify(group));
      }
      assert.equal((await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: ADMIN, json: { group: 'g2', username: 'carol', role: 'guest' } })).status, 400);
      assert.equal((await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: ADMIN, json: { group: 'g2', role: 'owner' } })).status, 400);
      const list = await (await t.req('/api/v1/projects/gp/members', { auth: ADMIN })).json();
      assert.equal(list.total, 2);
      assert.deepEqual(
        list.items.map((x: { member_type: string; username?: string; group?: string; role: string }) => [x.member_type, x.username ?? x.group, x.role]),
        [
          ['user', 'admin', 'admin'],
          ['group', TEAM, 'developer'],
        ],
      );
    });

    it('a user outside every group has no access; in the group they get its role on every way in', async () => {
      assert.equal((await t.req('/api/v1/projects/gp', { auth: carol })).status, 404, 'a private project is not there for outsiders');
      assert.deepEqual(await access('repository:gp/app:pull,push', carol), []);
      await replaceUserGroups(t.db, carolId, ['cn=other,dc=example,dc=org', TEAM], Date.now());
      const p = await (await t.req('/api/v1/projects/gp', { auth: carol })).json();
      assert.equal(p.current_user_role, 'developer');
      assert.deepEqual(await access('repository:gp/app:pull,push,delete', carol), ['pull', 'push']);
      assert.deepEqual(await access('repository:other/app:pull', carol), [], 'no group role in the other project');
      const names = (await (await t.req('/api/v1/projects', { auth: carol })).json()).items.map((x: { name: string }) => x.name);
      assert.deepEqual(names, ['gp']);
      // a developer (through the group) may not manage members
      assert.equal((await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: carol, json: { group: 'x', role: 'admin' } })).status, 403);
      // the UI shows the project to carol
      const b = new Browser(t);
      await b.login(...carol);
      assert.equal((await b.fetch('/projects/gp')).status, 200);
      assert.equal((await b.fetch('/projects/other')).status, 404);
    });

    it('the effective role is the highest of the direct and group roles', async () => {
      await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: ADMIN, json: { username: 'carol', role: 'guest' } });
      assert.deepEqual(await access('repository:gp/app:pull,push', carol), ['pull', 'push'], 'group developer beats direct guest');
      const list = await (await t.req('/api/v1/projects/gp/members', { auth: ADMIN })).json();
      const g = list.items.find((x: { member_type: string }) => x.member_type === 'group');
      assert.equal((await t.req(`/api/v1/projects/gp/members/groups/${g.id}`, { method: 'PUT', auth: ADMIN, json: { role: 'admin' } })).status, 204);
      assert.deepEqual(await access('repository:gp/app:*', carol), ['pull', 'push', 'delete', '*']);
      assert.equal((await t.req('/api/v1/projects/gp/members', { method: 'POST', auth: carol, json: { group: 'cn=new', role: 'guest' } })).status, 201, 'group admin manages members');
      assert.equal((await t.req(`/api/v1/projects/gp/members/groups/${g.id}`, { method: 'PUT', auth: ADMIN, json: { role: 'boss' } })).status, 400);
      assert.equal((await t.req(`/api/v1/projects/other/members/groups/${g.id}`, { method: 'PUT', auth: ADMIN, json: { role: 'guest' } })).status, 404, 'id of another project');
      assert.equal((await t.req(`/api/v1/projects/gp/members/groups/${g.id}`, { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.equal((await t.req(`/api/v1/projects/gp/members/groups/${g.id}`, { method: 'DELETE', auth: ADMIN })).status, 404);
      assert.deepEqual(await access('repository:gp/app:pull,push', carol), ['pull'], 'back to the direct guest role');
    });

    it('leaving the group (at the next sign-in) takes the access away', async () => {
      await t.req('/api/v1/projects/other/members', { method: 'POST', auth: ADMIN, json: { group: 'devs', role: 'developer' } });
      await replaceUserGroups(t.db, carolId, ['devs'], Date.now());
      assert.deepEqual(await access('repository:other/app:push', carol), ['push']);
      await replaceUserGroups(t.db, carolId, [], Date.now());
      assert.deepEqual(await access('repository:other/app:push', carol), []);
      assert.equal((await t.req('/api/v1/projects/other', { auth: carol })).status, 404);
    });

    it('the UI adds, re-roles and removes a group (CSRF-protected), and refuses non-admins', async () => {
      const b = new Browser(t);
      await b.login(...ADMIN);
      const csrf = await b.csrf();
      const add = await b.post('/projects/gp/members', { _csrf: csrf, group: 'ui-team', role: 'guest' });
      assert.equal(add.status, 303);
      const html = await (await b.fetch('/projects/gp/members')).text();
      assert.match(html, /ui-team/);
      const id = /id="group-(\d+)">\s*<td>ui-team</.exec(html)![1];
      assert.equal((await b.post(`/projects/gp/groups/${id}/role`, { _csrf: csrf, role: 'developer' })).status, 303);
      assert.equal((await b.post(`/projects/gp/groups/${id}/role`, { _csrf: 'wrong', role: 'admin' })).status, 403);
      const list = await (await t.req('/api/v1/projects/gp/members', { auth: ADMIN })).json();
      assert.equal(list.items.find((x: { group?: string }) => x.group === 'ui-team').role, 'developer');
      assert.equal((await b.fetch(`/projects/gp/groups/${id}/remove`)).status, 200, 'confirmation page');
      assert.equal((await b.post(`/projects/gp/groups/${id}/remove`, { _csrf: csrf })).status, 303);
      assert.doesNotMatch(await (await b.fetch('/projects/gp/members')).text(), /ui-team/);
      const bad = await b.post('/projects/gp/members', { _csrf: csrf, group: ' padded', role: 'guest' });
      assert.equal(bad.status, 422);
    });

    it('deleting the project deletes its group members', async () => {
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'tmp' } });
      await t.req('/api/v1/projects/tmp/members', { method: 'POST', auth: ADMIN, json: { group: 'devs', role: 'guest' } });
      assert.equal((await t.req('/api/v1/projects/tmp', { method: 'DELETE', auth: ADMIN })).status, 204);
      const n = await t.db
        .selectFrom('project_group_members')
        .select((e) => e.fn.countAll<number>().as('n'))
        .where('group_name', '=', 'devs')
        .executeTakeFirstOrThrow();
      assert.equal(Number(n.n), 1, 'only the one in "other" remains');
    });
  });
}
