import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Attribute, Change } from 'ldapts';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { LOGIN_POLICY } from '../../src/services/account-service.js';
import { ADMINS, LDAP_BASE, LDAP_READER_DN, LDAP_READER_PW, LDAP_USERS, startSlapd, TEAM_A, type Slapd } from '../helpers/slapd.js';

const BURST = 50;

type Access = { type: string; name: string; actions: string[] };

const ldapEnv = (s: Slapd): Record<string, string> => ({
  BERTH_AUTH_MODE: 'ldap',
  BERTH_LDAP_URL: s.url,
  BERTH_LDAP_BIND_DN: LDAP_READER_DN,
  BERTH_LDAP_BIND_PASSWORD: LDAP_READER_PW,
  BERTH_LDAP_BASE_DN: `ou=people,${LDAP_BASE}`,
  BERTH_LDAP_GROUP_BASE_DN: `ou=groups,${LDAP_BASE}`,
  BERTH_LDAP_ADMIN_GROUP: ADMINS,
});

for (const dialect of testDialects()) {
  describe(`LDAP sign-in against slapd [${dialect}]`, () => {
    let slapd: Slapd;
    let t: TestApp;
    const alice: [string, string] = ['ldapalice', LDAP_USERS.ldapalice!];
    const bob: [string, string] = ['ldapbob', LDAP_USERS.ldapbob!];
    const boss: [string, string] = ['ldapboss', LDAP_USERS.ldapboss!];
    before(async () => {
      slapd = await startSlapd();
      t = await startTestApp(dialect, ldapEnv(slapd));
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'team' } });
    });
    after(async () => {
      await t?.close({ drop: true });
      await slapd?.destroy();
    });

    const tokenRes = (scope: string, auth: [string, string]) => t.req(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, { auth });
    const access = async (scope: string, auth: [string, string]): Promise<string[]> => {
      const res = await tokenRes(scope, auth);
      assert.equal(res.status, 200, await res.clone().text());
      const body = await res.json();
      return (JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()).access as Access[])[0]!.actions;
    };
    const user = async (name: string) => t.services.accounts.getUserByName(name);

    it('a user who exists only in LDAP signs in at the token endpoint and is created on first sign-in', async () => {
      assert.equal(await user('ldapalice'), undefined);
      assert.deepEqual(await access('repository:team/app:pull', alice), []);
      const u = await user('ldapalice');
      assert.ok(u);
      assert.equal(u.authSource, 'ldap');
      const listed = await (await t.req(`/api/v1/users/${u.id}`, { auth: ADMIN })).json();
      assert.equal(listed.auth_source, 'ldap');
      assert.equal(u.email, 'ldapalice@example.org');
      assert.equal(u.isAdmin, false);
      const groups = await (await t.req('/api/v1/users/current/groups', { auth: alice })).json();
      assert.deepEqual(groups.items.sort(), [TEAM_A, 'team-a'].sort());
    });

    it('a project role given to the LDAP group applies; the admin group makes system admins', async () => {
      assert.equal((await t.req('/api/v1/projects/team/members', { method: 'POST', auth: ADMIN, json: { group: TEAM_A, role: 'developer' } })).status, 201);
      assert.deepEqual(await access('repository:team/app:pull,push', alice), ['pull', 'push']);
      assert.deepEqual(await access('repository:team/app:pull,push', bob), ['pull', 'push']);
      assert.deepEqual(await access('repository:team/app:push', boss), ['push'], 'boss is a system admin through the admin group');
      const me = await (await t.req('/api/v1/users/current', { auth: boss })).json();
      assert.equal(me.admin, true);
      assert.equal((await t.req('/api/v1/system/auth', { auth: boss })).status, 200);
      assert.equal((await t.req('/api/v1/system/auth', { auth: alice })).status, 403);
    });

    it('removal from the LDAP group revokes access at the next token request (even with the password cached)', async () => {
      assert.deepEqual(await access('repository:team/app:push', alice), ['push']);
      const root = await slapd.admin();
      await root.modify(TEAM_A, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [`uid=ldapalice,ou=people,${LDAP_BASE}`] }) }));
      await root.unbind();
      assert.deepEqual(await access('repository:team/app:push', alice), []);
      assert.equal((await t.req('/api/v1/projects/team', { auth: alice })).status, 404);
      assert.deepEqual(await access('repository:team/app:push', bob), ['push'], 'bob is still in the group');
      // leaving the admin group takes the system admin flag away
      const root2 = await slapd.admin();
      await root2.modify(ADMINS, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [`uid=ldapbob,ou=people,${LDAP_BASE}`] }) }));
      await root2.modify(ADMINS, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [`uid=ldapboss,ou=people,${LDAP_BASE}`] }) }));
      await root2.unbind();
      assert.equal((await (await t.req('/api/v1/users/current', { auth: boss })).json()).admin, false);
      assert.equal((await (await t.req('/api/v1/users/current', { auth: bob })).json()).admin, true);
    });

    it('a disabled directory user is refused although the directory accepts the password', async () => {
      const id = (await user('ldapboss'))!.id;
      assert.equal((await t.req(`/api/v1/users/${id}`, { method: 'PUT', auth: ADMIN, json: { disabled: true } })).status, 200);
      assert.equal((await tokenRes('repository:team/app:pull', boss)).status, 401);
      assert.equal((await t.req(`/api/v1/users/${id}`, { method: 'PUT', auth: ADMIN, json: { disabled: false } })).status, 200);
      assert.equal((await tokenRes('repository:team/app:pull', boss)).status, 200);
    });

    it('a wrong password, an empty one, and an unknown user get 401', async () => {
      assert.equal((await tokenRes('repository:team/app:pull', ['ldapbob', 'wrong-password'])).status, 401);
      assert.equal((await tokenRes('repository:team/app:pull', ['nobody', 'whatever-pw'])).status, 401);
      assert.equal((await t.req('/api/v1/users/current', { auth: ['ldapbob', ''] })).status, 401, 'no unauthenticated bind');
    });

    it('hostile usernames match nothing: no LDAP filter injection', async () => {
      for (const name of ['*', ')(', '\\00', '\u0000', 'ldap*', '*)(uid=*', 'ldapbob)(|(uid=*', 'ldapbob\u0000', '(uid=ldapbob)', 'ldapb*b']) {
        const res = await tokenRes('repository:team/app:pull', [name, LDAP_USERS.ldapbob!]);
        assert.equal(res.status, 401, JSON.stringify(name));
      }
      const list = await (await t.req('/api/v1/users?limit=100', { auth: ADMIN })).json();
      assert.deepEqual(list.items.map((u: { username: string }) => u.username).sort(), ['admin', 'ldapalice', 'ldapbob', 'ldapboss']);
    });

    it('the UI signs LDAP users in; local users other than admin cannot sign in in LDAP mode', async () => {
      const b = new Browser(t);
      const res = await b.login(...bob);
      assert.equal(res.status, 303);
      assert.equal((await b.fetch('/projects/team')).status, 200);
      const local = await createUser(t, 'localonly');
      assert.equal((await tokenRes('repository:team/app:pull', local)).status, 401);
      const b2 = new Browser(t);
      assert.equal((await b2.login(...local)).status, 401);
    });

    it('server down: a clear 503 (not a wrong-password 401), the local admin still works, and it recovers', async () => {
      await slapd.stop();
      try {
        const res = await tokenRes('repository:team/app:pull', bob);
        assert.equal(res.status, 503);
        assert.match((await res.json()).errors[0].message, /LDAP.*unreachable/);
        const b = new Browser(t);
        const page = await b.login(...bob);
        assert.equal(page.status, 503);
        assert.match(await page.text(), /unreachable/);
        assert.deepEqual(await access('repository:team/app:push', ADMIN), ['push']);
        const test = await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: {} })).json();
        assert.equal(test.ok, false);
        assert.match(test.message, /unreachable/);
      } finally {
        await slapd.start();
      }
      assert.deepEqual(await access('repository:team/app:push', bob), ['push']);
    });

    it('settings: never show the bind password; test connection and test user; a wrong bind password is a clear error', async () => {
      const view = await (await t.req('/api/v1/system/auth', { auth: ADMIN })).json();
      assert.equal(view.mode, 'ldap');
      assert.equal(view.ldap.bind_password_set, 'environment');
      assert.ok(!JSON.stringify(view).includes(LDAP_READER_PW));
      assert.equal((await t.req('/api/v1/system/auth', { method: 'PUT', auth: alice, json: { mode: 'db' } })).status, 403);
      assert.deepEqual(await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: {} })).json(), { ok: true, message: 'connected, bound and read the base DN' });
      const u = await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: { username: 'ldapbob' } })).json();
      assert.equal(u.ok, true);
      assert.equal(u.user.dn, `uid=ldapbob,ou=people,${LDAP_BASE}`);
      assert.ok(u.user.groups.includes('team-a'));
      assert.equal((await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: { username: '*' } })).json()).ok, false);
      // a stored (encrypted) password overrides the environment's; a wrong one is reported as such
      const put = await (await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap: { bind_password: 'not-the-password' } } })).json();
      assert.equal(put.ldap.bind_password_set, 'settings');
      assert.ok(!JSON.stringify(put).includes('not-the-password'));
      const raw = await t.db.selectFrom('system_settings').select('value').where('name', '=', 'auth').executeTakeFirstOrThrow();
      assert.ok(!raw.value.includes('not-the-password'), 'stored encrypted');
      const bad = await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: {} })).json();
      assert.equal(bad.ok, false);
      assert.match(bad.message, /service account/);
      const res = await tokenRes('repository:team/app:pull', ['ldapbob', 'a-fresh-password-1']);
      assert.equal(res.status, 503);
      await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap: { bind_password: null } } });
      assert.equal((await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: {} })).json()).ok, true);
      // validation
      for (const body of [{ mode: 'kerberos' }, { ldap: { url: 'http://x' } }, { ldap: { filter: 'uid=*' } }, { ldap: { uid_attr: 'a b' } }, { ldap: { extra: 1 } }, { mode: 'oidc' }]) {
        assert.equal((await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: body })).status, 400, JSON.stringify(body));
      }
    });

    it('a server that accepts but never answers times out with a clear message', async () => {
      const sockets: net.Socket[] = [];
      const silent = net.createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
      const port = (silent.address() as net.AddressInfo).port;
      try {
        assert.equal((await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap: { url: `ldap://127.0.0.1:${port}`, timeout_ms: 500 } } })).status, 200);
        const test = await (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: {} })).json();
        assert.equal(test.ok, false);
        assert.match(test.message, /did not answer in 500 ms|unreachable/);
        const res = await tokenRes('repository:team/app:pull', ['ldapbob', 'another-password-2']);
        assert.equal(res.status, 503);
      } finally {
        for (const s of sockets) s.destroy();
        silent.close();
        await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap: { url: slapd.url, timeout_ms: 5000 } } });
      }
    });

    it('memberUid groups (posixGroup) work once configured', async () => {
      const put = await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap: { group_member_attr: 'memberUid' } } });
      assert.equal(put.status, 200);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'posix' } });
      await t.req('/api/v1/projects/posix/members', { method: 'POST', auth: ADMIN, json: { group: 'posix-team', role: 'guest' } });
      assert.deepEqual(await access('repository:posix/app:pull,push', alice), ['pull']);
      assert.deepEqual(await access('repository:posix/app:pull', bob), []);
      await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap: { group_member_attr: 'member' } } });
    });

    it('the UI: admins see and save the settings (password never shown), test LDAP; users see their groups', async () => {
      const b = new Browser(t);
      await b.login(...ADMIN);
      const html = await (await b.fetch('/settings/auth')).text();
      assert.match(html, /set, from the environment/);
      assert.ok(!html.includes(LDAP_READER_PW));
      const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
      const test = await b.post('/settings/auth/ldap-test', { _csrf: csrf, username: 'ldapbob' });
      const testHtml = await test.text();
      assert.match(testHtml, /OK: found uid=ldapbob/);
      assert.match(testHtml, /team-a/);
      // save the form as shown (the mode flips to db and back), and a bad filter comes back as 422
      const form: Record<string, string> = { _csrf: csrf };
      for (const m of html.matchAll(/<input name="([a-z_]+)" value="([^"]*)"/g))
        form[m[1]!] = m[2]!
          .replace(/&#39;/g, "'")
          .replace(/&quot;/g, '"')
          .replace(/&amp;/g, '&');
      Object.assign(form, { mode: 'db', ldap_scope: 'sub', ldap_group_member_attr: 'member', ldap_timeout_ms: '5000' });
      const saved = await b.post('/settings/auth', form);
      assert.equal(saved.status, 303, await saved.text());
      assert.equal((await (await t.req('/api/v1/system/auth', { auth: ADMIN })).json()).mode, 'db');
      assert.equal((await b.post('/settings/auth', { ...form, mode: 'ldap', ldap_filter: 'uid=*' })).status, 422);
      assert.equal((await b.post('/settings/auth', { ...form, mode: 'ldap' })).status, 303);
      const view = await (await t.req('/api/v1/system/auth', { auth: ADMIN })).json();
      assert.equal(view.mode, 'ldap');
      assert.equal(view.ldap.bind_password_set, 'environment', 'an empty password field keeps the password');
      // a non-admin gets 403 (bob became an admin through the admin group above; alice is none)
      const a = new Browser(t);
      await a.login(...alice);
      assert.equal((await a.fetch('/settings/auth')).status, 403);
      const u = new Browser(t);
      await u.login(...bob);
      const profile = await (await u.fetch('/account/profile')).text();
      assert.match(profile, /LDAP/);
      assert.match(profile, /cn=team-a,ou=groups/);
    });

    it('back in db mode, directory users cannot sign in with a password (they have none)', async () => {
      await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { mode: 'db' } });
      assert.equal((await tokenRes('repository:team/app:pull', bob)).status, 401);
      await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { mode: 'ldap' } });
      assert.equal((await tokenRes('repository:team/app:pull', bob)).status, 200);
    });

    it(`the lockout counts directory passwords atomically: ${BURST} simultaneous wrong ones get at most ${LOGIN_POLICY.maxFailures} binds`, async () => {
      const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => tokenRes('repository:team/app:pull', ['ldapalice', `wrong-guess-${i}`]).then((r) => r.status)));
      const wrong = statuses.filter((s) => s === 401).length;
      assert.equal(wrong, LOGIN_POLICY.maxFailures, `binds with a wrong password: ${JSON.stringify(statuses)}`);
      assert.equal(statuses.filter((s) => s === 429).length, BURST - LOGIN_POLICY.maxFailures);
      assert.equal((await tokenRes('repository:team/app:pull', alice)).status, 429, 'the right password is locked out too');
      assert.equal((await new Browser(t).login(...alice)).status, 429, 'and on the sign-in form');
      // After the lockout the right password works again (and clears the count).
      const realNow = Date.now;
      Date.now = () => realNow() + LOGIN_POLICY.lockMs + LOGIN_POLICY.windowMs + 60_000;
      try {
        assert.equal((await tokenRes('repository:team/app:pull', alice)).status, 200);
      } finally {
        Date.now = realNow;
      }
      assert.equal((await tokenRes('repository:team/app:pull', alice)).status, 200);
    });

    it('attempts while the directory is down are not counted: more than the limit of them lock nobody out', async () => {
      await slapd.stop();
      try {
        for (let i = 0; i < LOGIN_POLICY.maxFailures + 2; i++) assert.equal((await tokenRes('repository:team/app:pull', boss)).status, 503);
      } finally {
        await slapd.start();
      }
      assert.equal((await tokenRes('repository:team/app:pull', boss)).status, 200);
    });
  });
}
