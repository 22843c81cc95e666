import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/auth/passwords.js';
import { insertSession } from '../../src/db/repos/sessions.js';
import { insertUser } from '../../src/db/repos/users.js';
import { reasonPhrase } from '../../src/registry/proxy.js';
import { OPERATOR } from '../../src/services/system-requester.js';
import { ADMIN, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, testDialects } from '../helpers/db.js';

/**
 * Attacks on the token path's caches (one query asked by different callers; a robot revoked on another replica), on
 * the CLI operator's audit name (an account named `cli` from before that name was reserved), on the first start of two
 * replicas at once, and on the /v2 reason phrase (text a client controls).
 */

const claimsOf = async (res: Response) => JSON.parse(Buffer.from((await res.json()).token.split('.')[1], 'base64url').toString());

for (const dialect of testDialects()) {
  describe(`token path caches [${dialect}]`, () => {
    let t: TestApp;
    let replica: TestApp | undefined;
    let dev: [string, string];
    before(async () => {
      t = await startTestApp(dialect);
      if (dialect === 'mysql') replica = await startTestApp(dialect, {}, t.database);
      dev = await createUser(t, 'devh');
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'hpriv' } });
      await t.req('/api/v1/projects/hpriv/members', { method: 'POST', auth: ADMIN, json: { username: 'devh', role: 'guest' } });
    });
    after(async () => {
      await replica?.close();
      await t?.close({ drop: true });
    });

    it('the parsed-scope cache carries nothing from one caller to the next (anonymous, guest, admin, anonymous on one query)', async () => {
      const q = '/service/token?service=berth-registry&scope=repository:hpriv/app:pull,push,delete&scope=registry:catalog:*';
      const anon1 = await claimsOf(await t.req(q));
      const guest = await claimsOf(await t.req(q, { auth: dev }));
      const admin = await claimsOf(await t.req(q, { auth: ADMIN }));
      const anon2 = await claimsOf(await t.req(q));
      assert.deepEqual(anon1.access[0].actions, []);
      assert.deepEqual(guest.access[0].actions, ['pull']);
      assert.deepEqual(admin.access[0].actions, ['pull', 'push', 'delete']);
      assert.deepEqual(admin.access[1].actions, ['*']);
      assert.deepEqual(anon2.access, anon1.access);
      // many distinct queries: the cache stays bounded and answers stay right
      for (let i = 0; i < 1500; i++) await t.req(`/service/token?service=berth-registry&scope=repository:hpriv/app${i}:pull`);
      assert.deepEqual((await claimsOf(await t.req(q, { auth: dev }))).access[0].actions, ['pull']);
    });

    // replicas run on MariaDB only (SQLite is the one-process database)
    if (dialect === 'mysql')
      it('a robot disabled, re-keyed or deleted on one replica is refused on the other within the staleness bound', async () => {
        const other = replica!;
        const res = await t.req('/api/v1/robots', { method: 'POST', auth: ADMIN, json: { name: 'hrobot', permissions: [{ project: 'hpriv', actions: ['pull'] }] } });
        assert.equal(res.status, 201);
        const { id, name, secret } = await res.json();
        const tok = (app: TestApp, pw: string) => app.req('/service/token?service=berth-registry&scope=repository:hpriv/app:pull', { auth: [name, pw] });
        // warm the credential cache on the other replica
        for (let i = 0; i < 3; i++) assert.equal((await tok(other, secret)).status, 200);
        assert.equal((await t.req(`/api/v1/robots/${id}`, { method: 'PUT', auth: ADMIN, json: { disabled: true } })).status, 200);
        await new Promise((r) => setTimeout(r, 700));
        assert.equal((await tok(other, secret)).status, 401, 'disabled on A, still authenticated on B after the bound');
        assert.equal((await t.req(`/api/v1/robots/${id}`, { method: 'PUT', auth: ADMIN, json: { disabled: false } })).status, 200);
        await new Promise((r) => setTimeout(r, 700));
        assert.equal((await tok(other, secret)).status, 200);
        const refreshed = await t.req(`/api/v1/robots/${id}/refresh`, { method: 'POST', auth: ADMIN });
        assert.equal(refreshed.status, 200);
        const { secret: secret2 } = await refreshed.json();
        await new Promise((r) => setTimeout(r, 700));
        assert.equal((await tok(other, secret)).status, 401, 'old secret still accepted on B after re-keying on A');
        assert.equal((await tok(other, secret2)).status, 200);
        assert.equal((await t.req(`/api/v1/robots/${id}`, { method: 'DELETE', auth: ADMIN })).status, 204);
        await new Promise((r) => setTimeout(r, 700));
        assert.equal((await tok(other, secret2)).status, 401, 'deleted on A, still authenticated on B');
      });
  });

  describe(`the CLI operator's audit name [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('an account named "cli" from before that name was reserved is audited as itself, never as the operator', async () => {
      // An account created before "cli" was reserved (inserted as the earlier version's user creation did).
      const userId = await insertUser(t.db, { username: 'cli', email: null, passwordHash: await hashPassword('cli-Passw0rd-123'), isAdmin: true, createdAt: Date.now() });
      // Its browser session from before the upgrade.
      const token = randomBytes(32).toString('base64url');
      const csrf = 'csrf-token-of-the-old-session';
      await insertSession(t.db, { id: createHash('sha256').update(token).digest('hex'), userId, csrfToken: csrf, now: Date.now(), expiresAt: Date.now() + 3600_000 });
      const byAccount = await t.app.request('/api/v1/system/reconcile', { method: 'POST', headers: { cookie: `berth_session=${token}`, 'x-csrf-token': csrf } });
      assert.equal(byAccount.status, 202);
      await t.services.maintenance.reconcile(OPERATOR);
      const audit = await t.db.selectFrom('audit_logs').select(['username', 'client_ip']).where('action', '=', 'reconcile').orderBy('id').execute();
      assert.deepEqual(
        audit.map((a) => a.username),
        ['cli', '(cli)'],
        'the account and the operator are told apart by name',
      );
      assert.equal(audit[1]!.client_ip, 'local');
    });
  });

  if (dialect === 'mysql')
    describe(`first start with two replicas at once [${dialect}]`, () => {
      it('two cores starting on one fresh database announce exactly one admin password, and it signs in', async () => {
        const database = await createTestDatabase(dialect);
        const shown: string[] = [];
        const env = { BERTH_ADMIN_PASSWORD: '' };
        const starts = await Promise.allSettled([0, 1].map(() => startTestApp(dialect, env, database, { announceAdminPassword: (pw) => void shown.push(pw) })));
        const apps = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
        try {
          assert.deepEqual(
            starts.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason)),
            [],
            'both replicas start',
          );
          assert.equal(shown.length, 1, `announced ${shown.length} passwords`);
          for (const app of apps) assert.equal((await app.req('/api/v1/users/current', { auth: ['admin', shown[0]!] })).status, 200);
        } finally {
          for (const app of apps) await app.close();
          await database.drop();
        }
      });
    });
}

describe('/v2 reason phrase', () => {
  it('CR/LF, non-ASCII and long user-controlled text never leave the visible-ASCII, 300-character phrase', () => {
    const nasty = `tag p/app:x\r\nSet-Cookie: a=b\u0000\u2028é漢字${'A'.repeat(5000)}`;
    const p = reasonPhrase(503, nasty);
    assert.match(p, /^[\x20-\x7e]{1,300}$/);
    assert.ok(!p.includes('\r') && !p.includes('\n'));
    assert.ok(p.startsWith('Service Unavailable: '));
    assert.match(reasonPhrase(599, 'x'), /^Error: x$|^[\x20-\x7e]+$/);
  });
});
