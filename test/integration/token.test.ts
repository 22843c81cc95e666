import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader, importX509, jwtVerify } from 'jose';
import { ADMIN, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

type Access = { type: string; name: string; actions: string[] };

for (const dialect of testDialects()) {
  describe(`token service [${dialect}]`, () => {
    let t: TestApp;
    let dev: [string, string];
    let guest: [string, string];
    let outsider: [string, string];
    before(async () => {
      t = await startTestApp(dialect);
      dev = await createUser(t, 'dev');
      guest = await createUser(t, 'guest1');
      outsider = await createUser(t, 'outsider');
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'priv' } });
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pub', public: true } });
      await t.req('/api/v1/projects/priv/members', { method: 'POST', auth: ADMIN, json: { username: 'dev', role: 'developer' } });
      await t.req('/api/v1/projects/priv/members', { method: 'POST', auth: ADMIN, json: { username: 'guest1', role: 'guest' } });
    });
    after(async () => t?.close({ drop: true }));

    const token = async (scopes: string[], auth?: [string, string], extra = '') => {
      const qs = new URLSearchParams({ service: 'berth-registry' });
      for (const s of scopes) qs.append('scope', s);
      return t.req(`/service/token?${qs}${extra}`, { auth });
    };
    const access = async (scopes: string[], auth?: [string, string]): Promise<Access[]> => {
      const res = await token(scopes, auth);
      assert.equal(res.status, 200);
      const body = await res.json();
      return JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()).access;
    };

    it('issues a JWT the registry accepts: ES256 P1363, string aud, exp/nbf/iat/jti, x5c and libtrust kid', async () => {
      const res = await token(['repository:priv/app:pull,push'], dev);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = await res.json();
      assert.equal(body.token, body.access_token);
      assert.equal(body.expires_in, 300);
      assert.ok(Date.parse(body.issued_at) > Date.now() - 60_000);
      const header = decodeProtectedHeader(body.token);
      assert.equal(header.alg, 'ES256');
      assert.match(String(header.kid), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
      assert.equal(header.x5c?.length, 1);
      assert.equal(Buffer.from(body.token.split('.')[2], 'base64url').length, 64, 'IEEE P1363 signature, not DER');
      const pem = fs.readFileSync(path.join(t.config.dataDir, 'keys', 'token.crt'), 'utf8');
      const { payload } = await jwtVerify(body.token, await importX509(pem, 'ES256'), { issuer: 'berth-token-issuer', audience: 'berth-registry' });
      assert.equal(typeof payload.aud, 'string');
      assert.equal(payload.sub, 'dev');
      for (const k of ['exp', 'nbf', 'iat', 'jti'] as const) assert.ok(payload[k], k);
      assert.deepEqual(payload.access, [{ type: 'repository', name: 'priv/app', actions: ['pull', 'push'] }]);
      // the x5c certificate is the one on disk
      assert.equal(new crypto.X509Certificate(Buffer.from(header.x5c![0]!, 'base64')).fingerprint256, new crypto.X509Certificate(pem).fingerprint256);
    });

    it('gives every token its own 128-bit id (jti), across refills of the id pool', () => {
      const ids = new Set<string>();
      for (let i = 0; i < 1000; i++) {
        const { token } = t.services.tokens.sign('dev', []);
        const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
        assert.equal(Buffer.from(jti, 'base64url').length, 16);
        ids.add(jti);
      }
      assert.equal(ids.size, 1000);
    });

    it('keeps the signing key private on disk (0600)', () => {
      const mode = fs.statSync(path.join(t.config.dataDir, 'keys', 'token.key')).mode & 0o777;
      assert.equal(mode, 0o600);
    });

    it('grants requested ∩ permitted per role', async () => {
      assert.deepEqual((await access(['repository:priv/app:pull,push'], guest))[0]!.actions, ['pull']);
      assert.deepEqual((await access(['repository:priv/app:pull,push'], outsider))[0]!.actions, []);
      assert.deepEqual((await access(['repository:priv/app:push'], dev))[0]!.actions, ['push']);
      assert.deepEqual((await access(['repository:priv/app:delete'], dev))[0]!.actions, []);
      assert.deepEqual((await access(['repository:priv/app:*'], dev))[0]!.actions, ['pull', 'push']);
      assert.deepEqual((await access(['repository:priv/app:*'], ADMIN))[0]!.actions, ['pull', 'push', 'delete', '*']);
    });

    it('reads several scopes, repeated or space-separated, in one request', async () => {
      const a = await access(['repository:priv/app:pull,push repository:pub/base:pull', 'repository:priv/other:pull'], dev);
      assert.deepEqual(
        a.map((x) => [x.name, x.actions]),
        [
          ['priv/app', ['pull', 'push']],
          ['pub/base', ['pull']],
          ['priv/other', ['pull']],
        ],
      );
    });

    it('anonymous callers pull public projects only and push nowhere', async () => {
      const a = await access(['repository:pub/app:pull,push', 'repository:priv/app:pull'], undefined);
      assert.deepEqual(
        a.map((x) => x.actions),
        [['pull'], []],
      );
      const body = await (await token(['repository:pub/app:pull'])).json();
      assert.equal(JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()).sub, '');
    });

    it('grants nothing on projects that do not exist, even to admins', async () => {
      assert.deepEqual((await access(['repository:nope/app:pull,push'], ADMIN))[0]!.actions, []);
    });

    it('gives the catalog to system admins only', async () => {
      assert.deepEqual((await access(['registry:catalog:*'], ADMIN))[0]!.actions, ['*']);
      assert.deepEqual((await access(['registry:catalog:*'], dev))[0]!.actions, []);
      assert.deepEqual((await access(['registry:catalog:*'], undefined))[0]!.actions, []);
    });

    it('answers a login without scope: 200 for good credentials, 401 for bad ones', async () => {
      assert.equal((await token([], dev)).status, 200);
      const bad = await token([], ['dev', 'wrong']);
      assert.equal(bad.status, 401);
      assert.equal((await bad.json()).errors[0].code, 'UNAUTHORIZED');
      assert.equal((await token([], ['nobody', 'x'])).status, 401);
      assert.equal((await t.req('/service/token', { headers: { authorization: 'Basic !!!' } })).status, 401);
    });

    it('never over-grants on malformed scopes', async () => {
      const hostile = [
        'repository:priv/../pub/app:pull',
        'repository:PRIV/app:pull',
        'repository:priv%2fapp:pull',
        'repository:evil.example/priv/app:pull,push',
        'repository:priv:pull',
        'registry:catalog:pull',
        'repository(plugin):priv/app:pull',
        `repository:priv/${'a'.repeat(400)}:pull`,
        'garbage',
        ':::',
      ];
      const a = await access(hostile, outsider);
      assert.deepEqual(a, []);
      const b = await access(hostile, dev);
      assert.deepEqual(b, []);
      const res = await token(hostile.concat(Array.from({ length: 100 }, (_, i) => `repository:priv/r${i}:pull`)), dev);
      assert.equal(res.status, 200);
    });

    it('robot accounts get their explicit permissions, and nothing with a wrong secret', async () => {
      const robot = await t.req('/api/v1/robots', { method: 'POST', auth: ADMIN, json: { name: 'ci', permissions: [{ project: 'priv', actions: ['pull', 'push'] }] } });
      assert.equal(robot.status, 201);
      const { name, secret } = await robot.json();
      assert.match(name, /^robot\$ci$/);
      assert.deepEqual((await access(['repository:priv/app:pull,push,delete'], [name, secret]))[0]!.actions, ['pull', 'push']);
      assert.equal((await token([], [name, 'wrong-secret'])).status, 401);
    });
  });
}
