import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, ADMIN_PASSWORD, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

/**
 * A nested repository's pages answer at their address with the repository's `/` unencoded too (typed, or linked by a
 * tool that does not encode): a redirect to the encoded address, for the repository page and its sub-pages, with the
 * query kept; anything else under /repositories/ stays a 404, and malformed escapes are a 404, never a 500.
 */
for (const dialect of testDialects()) {
  describe(`nested repository paths in the UI [${dialect}]`, () => {
    let t: TestApp;
    let b: Browser;
    const digest = `sha256:${'c'.repeat(64)}`;
    before(async () => {
      t = await startTestApp(dialect);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'nest' } })).status, 201);
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'nest'), 'nest/team/web', Date.now());
      const id = await art.upsertArtifact(t.db, repo, digest, manifestFacts());
      await art.setTag(t.db, repo, id, 'v1', Date.now());
      b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
    });
    after(async () => t?.close({ drop: true }));

    it('redirects to the encoded address, which serves the page', async () => {
      for (const [typed, encoded] of [
        ['/projects/nest/repositories/team/web', '/projects/nest/repositories/team%2Fweb'],
        ['/projects/nest/repositories/team/web?limit=5', '/projects/nest/repositories/team%2Fweb?limit=5'],
        [`/projects/nest/repositories/team/web/artifacts/${digest}`, `/projects/nest/repositories/team%2Fweb/artifacts/${digest}`],
        [`/projects/nest/repositories/team/web/artifacts/${digest}/tags`, `/projects/nest/repositories/team%2Fweb/artifacts/${digest}/tags`],
      ] as const) {
        const res = await b.fetch(typed);
        assert.equal(res.status, 302, typed);
        assert.equal(res.headers.get('location'), encoded, typed);
        const page = await b.fetch(encoded);
        assert.equal(page.status, 200, encoded);
        assert.match(await page.text(), /nest\/team\/web/);
      }
    });

    it('anything else stays a 404, never a 500 or a redirect loop', async () => {
      for (const path of ['/projects/nest/repositories/nope', '/projects/nest/repositories/team/nope/x/y', '/projects/nest/repositories/team/%E0%A4%A', '/projects/nest/repositories/team/../web']) {
        const res = await b.fetch(path);
        if (res.status === 302) {
          const next = await b.fetch(res.headers.get('location')!);
          assert.equal(next.status, 404, `${path} → ${res.headers.get('location')}`);
        } else assert.equal(res.status, 404, path);
      }
    });

    it('anonymous visitors are sent to sign in first', async () => {
      const res = await new Browser(t).fetch('/projects/nest/repositories/team/web');
      assert.equal(res.status, 303);
      assert.match(res.headers.get('location') ?? '', /^\/login\?next=/);
    });
  });
}
