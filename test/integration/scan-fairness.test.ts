import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PRIORITY_BULK, PRIORITY_PUSH, PRIORITY_PUSH_MIN, SCAN_IMAGE } from '../../src/jobs/types/scan.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

for (const dialect of testDialects()) {
  describe(`scan slots are shared between projects [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      for (const name of ['flood', 'quiet', 'flood_x']) assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name } })).status, 201);
    });
    after(async () => t?.close({ drop: true }));

    const digest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;
    const priorities = async () =>
      (await t.db.selectFrom('jobs').select(['payload', 'priority', 'id']).where('type', '=', SCAN_IMAGE).orderBy('priority', 'desc').orderBy('id').execute()).map((r) => [
        (JSON.parse(r.payload) as { repository: string }).repository,
        Number(r.priority),
      ]);

    it("steps a project's push scans down while its earlier ones are open, so another project's push is claimed first", async () => {
      const onPush = t.services.scanRequests.onArtifactPushed;
      for (let i = 0; i < 12; i++) await onPush({ repository: 'flood/app', digest: digest(i), artifactId: 1000 + i });
      await onPush({ repository: 'flood_x/app', digest: digest(99), artifactId: 2000 });
      await onPush({ repository: 'quiet/app', digest: digest(100), artifactId: 3000 });
      const p = await priorities();
      const flood = p.filter(([r]) => r === 'flood/app').map(([, x]) => x);
      assert.deepEqual(flood, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1]);
      assert.equal(flood[0], PRIORITY_PUSH);
      assert.ok(
        flood.every((x) => (x as number) >= PRIORITY_PUSH_MIN && (x as number) > PRIORITY_BULK),
        'push scans stay ahead of bulk scans',
      );
      // a project whose name only looks alike (LIKE's `_`) is counted apart
      assert.deepEqual(p.find(([r]) => r === 'flood_x/app')?.[1], PRIORITY_PUSH);
      assert.deepEqual(p.find(([r]) => r === 'quiet/app')?.[1], PRIORITY_PUSH);
      // claim order (priority, then age): quiet's first push comes right after flood's first one
      assert.deepEqual(
        p
          .slice(0, 3)
          .map(([r]) => r)
          .sort(),
        ['flood/app', 'flood_x/app', 'quiet/app'],
      );
      // once flood's scans are done, its next push is back at full priority
      await t.db.updateTable('jobs').set({ status: 'success' }).where('type', '=', SCAN_IMAGE).execute();
      await onPush({ repository: 'flood/app', digest: digest(50), artifactId: 1050 });
      assert.ok((await priorities()).some(([r, x]) => r === 'flood/app' && x === PRIORITY_PUSH));
    });
  });
}
