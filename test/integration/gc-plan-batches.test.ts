import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { planUntagged } from '../../src/services/gc-planner.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const blob = (c: string, size: number) => ({ digest: d(c), mediaType: 'application/octet-stream', size });

/**
 * Garbage collection's plan reads the repositories a page at a time and keeps no list of what stays: a blob counts
 * as freed when every artifact that references it (the database counts them, in any repository) is going. Pages of
 * one repository decide exactly what one page of all decides.
 */
for (const dialect of testDialects()) {
  describe(`garbage collection plan in pages [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gcp' } });
      const project = await projectId(t.db, 'gcp');
      const now = Date.now();
      const repo = async (name: string) => art.ensureRepository(t.db, project, `gcp/${name}`, now);
      const [a, b, c] = [await repo('a'), await repo('b'), await repo('c')];
      // a: an orphan (blob 1 its own, blob 2 shared with the kept image in c, blob 3 shared with b's orphan)
      await art.upsertArtifact(t.db, a, d('a'), manifestFacts({ manifestSize: 5, blobs: [blob('1', 100), blob('2', 200), blob('3', 300), blob('1', 100)] }));
      // b: an orphan, and a tagged image
      await art.upsertArtifact(t.db, b, d('b'), manifestFacts({ manifestSize: 6, blobs: [blob('3', 300), blob('4', 400)] }));
      const kept = await art.upsertArtifact(t.db, b, d('c'), manifestFacts({ manifestSize: 7, blobs: [blob('5', 500)] }));
      await art.setTag(t.db, b, kept, 'v1', now);
      // c: a tagged image sharing blob 2
      const keptC = await art.upsertArtifact(t.db, c, d('e'), manifestFacts({ manifestSize: 8, blobs: [blob('2', 200), blob('6', 600)] }));
      await art.setTag(t.db, c, keptC, 'v1', now);
    });
    after(async () => t?.close({ drop: true }));

    it('pages of one repository plan what one page plans: the orphans, and the blobs only they use', async () => {
      const paged = await planUntagged(t.db, { batchSize: 1 });
      const whole = await planUntagged(t.db);
      for (const plan of [paged, whole]) {
        assert.deepEqual(plan.manifests.map((m) => [m.repository, m.digest, m.manifestSize, [...m.blobs].sort()]).sort(), [
          ['gcp/a', d('a'), 5, [d('1'), d('2'), d('3')]],
          ['gcp/b', d('b'), 6, [d('3'), d('4')]],
        ]);
        assert.deepEqual(
          [...plan.uniqueBlobs].sort(),
          [
            [d('1'), 100],
            [d('3'), 300],
            [d('4'), 400],
          ],
          'blob 2 stays with the kept image of c; blob 3 goes, both of its users go',
        );
      }
    });
  });
}
