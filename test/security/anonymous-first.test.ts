import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATIONS } from '../../src/routes/api/v1/openapi.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * Authentication before anything else: every REST operation for signed-in callers answers an anonymous caller 401
 * whatever its parameters and body, before reading either (a malformed body or a project that does not exist must
 * not answer 400 or 404 to someone who may not ask at all). The operations come from the one list the router and the
 * OpenAPI document are built from, so a new operation is covered by being declared.
 */
for (const dialect of testDialects()) {
  describe(`anonymous callers are refused before their input is read [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pub', public: true } })).status, 201);
    });
    after(async () => t?.close({ drop: true }));

    const signedIn = OPERATIONS.filter((o) => (o.security ?? 'signed-in') === 'signed-in');

    it('covers the operations for signed-in callers', () => {
      assert.ok(signedIn.length >= 50, `${signedIn.length} operations`);
      assert.ok(signedIn.some((o) => o.method !== 'get' && o.body));
    });

    for (const [label, value] of [
      ['an existing public project', 'pub'],
      ['a name that does not exist', 'nope'],
      ['a malformed parameter', '%25%00..'],
    ] as const) {
      it(`every one answers 401 with ${label} in its path and a malformed body`, async () => {
        const wrong: string[] = [];
        for (const o of signedIn) {
          const path = `/api/v1${o.path.replace(/\{[^}]+\}/g, value)}`;
          const method = o.method.toUpperCase();
          const init: RequestInit = method === 'GET' || method === 'HEAD' ? { method } : { method, headers: { 'content-type': 'application/json' }, body: '{"rules": "x", "name": 7,' };
          const res = await t.app.request(path, init);
          const body = method === 'HEAD' ? '' : await res.text();
          if (res.status !== 401) wrong.push(`${method} ${o.path}: ${res.status} ${body.slice(0, 100)}`);
          else if (method !== 'HEAD') assert.match(body, /UNAUTHORIZED/, `${method} ${o.path}`);
        }
        assert.deepEqual(wrong, []);
      });
    }
  });
}
