import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

/**
 * A repository's times as REST shows them: `updated_at` is its newest push's time and never moves back (a late or
 * duplicate event, a re-read of an old row with push time 0), and never precedes `created_at`.
 */
for (const dialect of testDialects()) {
  describe(`repository times [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'times' } })).status, 201);
    });
    after(async () => t?.close({ drop: true }));

    const shown = async () => {
      const res = await t.req('/api/v1/projects/times/repositories/app', { auth: ADMIN });
      assert.equal(res.status, 200);
      const r = (await res.json()) as { created_at: string; updated_at: string };
      return { created: Date.parse(r.created_at), updated: Date.parse(r.updated_at) };
    };
    const d = (c: string) => `sha256:${c.repeat(64)}`;

    it('moves forward with pushes only', async () => {
      const pushedAt = Date.now() - 60_000; // the event's time, before the import creates the row
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'times'), 'times/app', pushedAt);
      await art.upsertArtifact(t.db, repo, d('a'), manifestFacts({ pushedAt }));
      let s = await shown();
      assert.equal(s.updated, pushedAt);
      assert.ok(s.created <= s.updated, `created ${s.created} ≤ updated ${s.updated}`);
      const later = pushedAt + 30_000;
      await art.upsertArtifact(t.db, repo, d('b'), manifestFacts({ pushedAt: later }));
      assert.equal((await shown()).updated, later);
      // a late event of the first push, and a re-read with push time 0, leave it
      await art.upsertArtifact(t.db, repo, d('a'), manifestFacts({ pushedAt }));
      await art.upsertArtifact(t.db, repo, d('a'), manifestFacts({ pushedAt: 0 }));
      s = await shown();
      assert.equal(s.updated, later);
      assert.ok(s.created <= s.updated);
    });

    it('created at its earliest push, when that push’s event comes after a later one’s', async () => {
      const first = Date.now() - 120_000;
      const second = first + 30_000;
      // the second push's event creates the row; the first push's arrives late
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'times'), 'times/late', second);
      await art.upsertArtifact(t.db, repo, d('c'), manifestFacts({ pushedAt: second }));
      await art.upsertArtifact(t.db, repo, d('e'), manifestFacts({ pushedAt: first }));
      const res = await t.req('/api/v1/projects/times/repositories/late', { auth: ADMIN });
      const r = (await res.json()) as { created_at: string; updated_at: string };
      assert.equal(Date.parse(r.created_at), first, 'no artifact of it pushed before it was created');
      assert.equal(Date.parse(r.updated_at), second);
      // a re-read with push time 0 leaves it
      await art.upsertArtifact(t.db, repo, d('e'), manifestFacts({ pushedAt: 0 }));
      assert.equal(Date.parse(((await (await t.req('/api/v1/projects/times/repositories/late', { auth: ADMIN })).json()) as { created_at: string }).created_at), first);
    });
  });
}
