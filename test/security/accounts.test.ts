import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { ADMIN, basic, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, testDialects } from '../helpers/db.js';
import { LOGIN_POLICY } from '../../src/services/account-service.js';
import { CORE_SUBJECT, SCANNER_SUBJECT } from '../../src/registry/constants.js';
import { usernameProblem } from '../../src/auth/names.js';

/**
 * Counts scrypt runs: the password hash is the one costly step of a login, so "the hash ran" is the timing
 * property, asserted without a clock. node:crypto's named ESM exports follow the CommonJS object after
 * syncBuiltinESMExports().
 */
function countScrypt(): { count(): number; restore(): void } {
  const original = crypto.scrypt;
  let n = 0;
  (crypto as { scrypt: unknown }).scrypt = (...args: unknown[]) => {
    n++;
    return (original as (...a: unknown[]) => void)(...args);
  };
  syncBuiltinESMExports();
  return {
    count: () => n,
    restore() {
      (crypto as { scrypt: unknown }).scrypt = original;
      syncBuiltinESMExports();
    },
  };
}

for (const dialect of testDialects()) {
  describe(`security probes: accounts and login [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    const apiAs = (user: string, password: string) => t.req('/api/v1/users/current', { headers: { authorization: basic(user, password) } });

    it('item 5: `victim ` (PAD SPACE on MariaDB) is not `victim`, and a locked `victim` stays locked under padded names', async () => {
      await createUser(t, 'victim', 'victim-right-pw');
      for (let i = 0; i < LOGIN_POLICY.maxFailures; i++) assert.equal((await apiAs('victim', `wrong-${i}-password`)).status, 401);
      assert.equal((await apiAs('victim', 'victim-right-pw')).status, 429, 'locked out');
      for (const padded of ['victim ', 'victim  ', 'victim\t', ' victim', 'VICTIM']) {
        const res = await apiAs(padded, 'victim-right-pw');
        // Refused (401) or, sharing the locked canonical name, still locked (429): never signed in.
        assert.ok(res.status === 401 || res.status === 429, `${JSON.stringify(padded)} must not sign in as victim (${res.status})`);
      }
      // The name grammar refuses padded names at creation too, and no second account can shadow the first.
      assert.equal((await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'victim ', password: 'another-pw-123' } })).status, 400);
    });

    it('item 5: names compare exactly in the database (no-pad collation), also for lookups that do not pass the grammar', async () => {
      const { findUserByName } = await import('../../src/db/repos/users.js');
      const { findProjectByName } = await import('../../src/db/repos/projects.js');
      assert.ok(await findUserByName(t.db, 'victim'));
      assert.equal(await findUserByName(t.db, 'victim '), undefined);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'padproj' } });
      assert.equal(await findProjectByName(t.db, 'padproj '), undefined);
      // Member by a padded name: no such user.
      assert.equal((await t.req('/api/v1/projects/padproj/members', { method: 'POST', auth: ADMIN, json: { username: 'victim ', role: 'guest' } })).status, 404);
    });

    it('item 6: the internal token subjects and reserved names cannot be usernames', async () => {
      for (const name of ['berth-core', 'berth-scanner', 'Berth-Core', 'anonymous', 'cli', 'CLI', CORE_SUBJECT, SCANNER_SUBJECT]) {
        assert.notEqual(usernameProblem(name), null, name);
        const res = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: name, password: 'reserved-pw-123' } });
        assert.equal(res.status, 400, name);
      }
      const b = new Browser(t);
      await b.login(...ADMIN);
      const csrf = await b.csrf();
      const ui = await b.post('/users', { _csrf: csrf, username: 'berth-core', password: 'reserved-pw-123' });
      assert.ok(ui.status === 422 || ui.status === 400, `UI refuses too (${ui.status})`);
      assert.equal((await t.req('/api/v1/users?q=berth-core', { auth: ADMIN }).then((r) => r.json())).total, 0);
    });

    it('item 7: the password hash runs for unknown, disabled and locked accounts as for active ones', async () => {
      await createUser(t, 'active1', 'active1-right-pw');
      const [,] = await createUser(t, 'disabled1', 'disabled1-right-pw');
      const list = await (await t.req('/api/v1/users?q=disabled1', { auth: ADMIN })).json();
      assert.equal((await t.req(`/api/v1/users/${list.items[0].id}`, { method: 'PUT', auth: ADMIN, json: { disabled: true } })).status, 200);
      await createUser(t, 'locked1', 'locked1-right-pw');
      for (let i = 0; i < LOGIN_POLICY.maxFailures; i++) await apiAs('locked1', `wrong-${i}-password`);
      const cases: [string, string, number][] = [
        ['active1', 'wrong-password-1', 401],
        ['nosuchuser', 'wrong-password-1', 401],
        ['disabled1', 'wrong-password-1', 401],
        ['disabled1', 'disabled1-right-pw', 401],
        ['locked1', 'wrong-password-1', 429],
        ['locked1', 'locked1-right-pw', 429],
      ];
      for (const [user, pw, status] of cases) {
        const spy = countScrypt();
        try {
          const res = await apiAs(user, pw);
          assert.equal(res.status, status, `${user}/${pw}`);
          assert.equal(spy.count(), 1, `${user}/${pw}: one password hash before answering`);
        } finally {
          spy.restore();
        }
      }
      // The UI form takes the same path.
      const spy = countScrypt();
      try {
        const b = new Browser(t);
        const res = await b.login('disabled1', 'wrong-password-1');
        assert.equal(res.status, 401);
        assert.equal(spy.count(), 1);
      } finally {
        spy.restore();
      }
    });

    it('item 4: /login?next= follows same-origin paths only; control characters and CR/LF are refused, never a 500', async () => {
      const b = new Browser(t);
      const page = await b.fetch('/login?next=%2F%09%2Fevil.example');
      assert.equal(page.status, 200);
      assert.doesNotMatch(await page.text(), /evil\.example/);
      assert.equal((await b.login(...ADMIN)).status, 303);
      const hostile = [
        '/\t/evil.example',
        '/\n/evil.example',
        '/\r\nSet-Cookie: x=1',
        '//evil.example',
        '/\\evil.example',
        '\\/evil.example',
        'https://evil.example/',
        '/%0d%0aSet-Cookie:x=1',
        ' //evil.example',
        '/\u0000/evil.example',
        'javascript:alert(1)',
        '/\u2028/evil.example',
      ];
      for (const next of hostile) {
        const res = await b.fetch(`/login?next=${encodeURIComponent(next)}`);
        assert.equal(res.status, 303, JSON.stringify(next));
        const loc = res.headers.get('location')!;
        const resolved = new URL(loc, t.config.externalUrl);
        assert.equal(resolved.origin, new URL(t.config.externalUrl).origin, `${JSON.stringify(next)} → ${loc}`);
        assert.ok(!/[\u0000-\u001f\\]/.test(loc), loc);
        assert.ok(!loc.startsWith('//'), loc);
      }
      const ok = await b.fetch(`/login?next=${encodeURIComponent('/projects?q=a#x')}`);
      assert.equal(ok.headers.get('location'), '/projects?q=a#x');
      // Signing in with a hostile next in the form.
      for (const next of ['/\t/evil.example', '/\r\n/evil.example']) {
        const b2 = new Browser(t);
        const form = await (await b2.fetch('/login')).text();
        const csrf = /name="_csrf" value="([^"]+)"/.exec(form)![1]!;
        const res = await b2.post('/login', { _csrf: csrf, username: ADMIN[0], password: ADMIN[1], next });
        assert.equal(res.status, 303, JSON.stringify(next));
        assert.equal(res.headers.get('location'), '/');
      }
    });

    it('item 8: a private project answers 404 like a missing one, on REST, UI, robots and token scopes', async () => {
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'secretproj' } });
      const outsider = await createUser(t, 'outsider8', 'outsider8-pw-123');
      // 404 for both, or for an anonymous caller of an operation for signed-in callers 401 for both (refused before
      // the project is looked up at all).
      const same = async (path: (p: string) => string, init: { auth?: [string, string] } = {}, expected = 404) => {
        const a = await t.req(path('secretproj'), init);
        const b = await t.req(path('nosuchproj'), init);
        assert.equal(a.status, expected, `${path('secretproj')} → ${a.status}`);
        assert.equal(b.status, expected);
        const norm = async (r: Response) => (await r.text()).replace(/secretproj|nosuchproj/g, 'X');
        assert.equal(await norm(a), await norm(b), path('X'));
      };
      for (const auth of [outsider, undefined]) {
        await same((p) => `/api/v1/projects/${p}`, { auth });
        await same((p) => `/api/v1/projects/${p}/members`, { auth }, auth ? 404 : 401);
        await same((p) => `/api/v1/projects/${p}/repositories`, { auth });
        await same((p) => `/api/v1/projects/${p}/repositories/app/artifacts`, { auth });
        await same((p) => `/api/v1/projects/${p}/scanner`, { auth }, auth ? 404 : 401);
      }
      // Writes too.
      for (const [method, path, json] of [
        ['PUT', (p: string) => `/api/v1/projects/${p}`, { public: true }],
        ['DELETE', (p: string) => `/api/v1/projects/${p}`, undefined],
        ['POST', (p: string) => `/api/v1/projects/${p}/members`, { username: 'outsider8', role: 'admin' }],
      ] as const) {
        const a = await t.req(path('secretproj'), { method, auth: outsider, json });
        const b = await t.req(path('nosuchproj'), { method, auth: outsider, json });
        assert.equal(a.status, 404, `${method} ${path('secretproj')}`);
        assert.equal(b.status, 404);
      }
      // Robots naming the project.
      const r1 = await t.req('/api/v1/robots?project=secretproj', { auth: outsider });
      const r2 = await t.req('/api/v1/robots?project=nosuchproj', { auth: outsider });
      assert.equal(r1.status, 404);
      assert.equal(r2.status, 404);
      for (const project of ['secretproj', 'nosuchproj']) {
        const res = await t.req('/api/v1/robots', { method: 'POST', auth: outsider, json: { name: 'r8', project, permissions: [{ project, actions: ['pull'] }] } });
        assert.equal(res.status, 404, project);
      }
      // UI.
      const b = new Browser(t);
      await b.login(...outsider);
      for (const p of ['/projects/secretproj', '/projects/secretproj/members', '/projects/secretproj/settings', '/projects/secretproj/repositories/app']) {
        const a = await b.fetch(p);
        const m = await b.fetch(p.replace('secretproj', 'nosuchproj'));
        assert.equal(a.status, 404, p);
        assert.equal(m.status, 404);
      }
      // Token scopes: both get empty actions.
      const scopes = async (p: string) => {
        const res = await t.req(`/service/token?service=berth-registry&scope=repository:${p}/app:pull,push`, { auth: outsider });
        assert.equal(res.status, 200);
        const body = await res.json();
        return JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()).access[0].actions;
      };
      assert.deepEqual(await scopes('secretproj'), []);
      assert.deepEqual(await scopes('nosuchproj'), []);
    });

    it('first start: the generated admin password is shown before it is stored, so no failed start locks the operator out', async () => {
      const database = await createTestDatabase(dialect);
      const env = { BERTH_ADMIN_PASSWORD: '' };
      try {
        // The start dies while showing the password (stderr gone, the process killed mid-banner): nothing is stored.
        let lost = '';
        const dies = (pw: string) => {
          lost = pw;
          throw new Error('stderr closed');
        };
        await assert.rejects(startTestApp(dialect, env, database, { announceAdminPassword: dies }), /stderr closed/);
        assert.ok(lost.length >= 16);
        // So the next start generates and shows a new one; this start then fails after `admin` exists (it never
        // serves): the password was shown by then.
        const shown: string[] = [];
        const show = (pw: string) => void shown.push(pw);
        const second = await startTestApp(dialect, env, database, { announceAdminPassword: show });
        await second.close();
        assert.equal(shown.length, 1);
        assert.notEqual(shown[0], lost);
        // A restart shows nothing new: the password shown is the one that signs in, the lost one never does.
        const third = await startTestApp(dialect, env, database, { announceAdminPassword: show });
        try {
          assert.equal(shown.length, 1);
          assert.equal(third.generatedAdminPassword, null);
          assert.equal((await third.req('/api/v1/users/current', { auth: ['admin', shown[0]!] })).status, 200);
          assert.equal((await third.req('/api/v1/users/current', { auth: ['admin', lost] })).status, 401);
          // and the UI still asks to change it: the "still generated" mark was stored with the account
          const b = new Browser(third);
          await b.login('admin', shown[0]!);
          assert.match(await (await b.fetch('/')).text(), /banner-password/);
        } finally {
          await third.close();
        }
      } finally {
        await database.drop();
      }
    });
  });
}
