import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * Authentication before anything else, in the UI: every form Berth serves (each POST route of the app, read from the
 * router itself, so a new form is covered by being registered) sends an anonymous caller to sign in, or refuses it
 * (CSRF), before its form is read: a malformed form never gets 400/422, a missing object never 404, nothing 500.
 * Sign-in, sign-out and the language switch are for anonymous callers too, and the REST, registry and token routes
 * have their own tests.
 */
const ANONYMOUS_ALLOWED = new Set(['/login', '/logout', '/language']);

for (const dialect of testDialects()) {
  describe(`anonymous form posts to the UI [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('every UI form answers an anonymous post with sign-in or a refusal, before reading it', async () => {
      const paths = [...new Set(t.app.routes.filter((r) => r.method === 'POST').map((r) => r.path))].filter(
        (p) => !p.startsWith('/api/') && !p.startsWith('/service/') && !p.startsWith('/v2') && !ANONYMOUS_ALLOWED.has(p),
      );
      assert.ok(paths.length >= 35, `${paths.length} forms`);
      // An anonymous visitor with the sign-in page's cookie and its valid form token: CSRF passes, sign-in must not.
      const b = new Browser(t);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await b.fetch('/login')).text())![1]!;
      const wrong: string[] = [];
      const seen = new Map<string, number>();
      for (const pattern of paths) {
        const path = pattern.replace(/:[A-Za-z]+/g, 'x').replace(/\*/g, 'x');
        for (const body of [`_csrf=${csrf}&name=%ZZ&rules=[oops&dry_run=maybe`, `_csrf=${csrf}&name=&confirm=&password=a`]) {
          const res = await b.fetch(path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
          const to = res.headers.get('location') ?? '';
          const signIn = res.status === 303 && to.startsWith('/login');
          seen.set(signIn ? 'sign-in' : String(res.status), (seen.get(signIn ? 'sign-in' : String(res.status)) ?? 0) + 1);
          if (!signIn && res.status !== 401 && res.status !== 403) wrong.push(`${pattern}: ${res.status} ${to || (await res.text()).slice(0, 80)}`);
        }
      }
      assert.ok((seen.get('sign-in') ?? 0) > 0, `the form token passed CSRF, so sign-in is what refused: ${JSON.stringify([...seen])}`);
      assert.deepEqual(wrong, []);
    });
  });
}
