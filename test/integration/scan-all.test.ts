import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import type { JobContext } from '../../src/jobs/runner.js';
import { PRIORITY_BULK, scanAllJob } from '../../src/jobs/types/scan.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { eventually } from '../helpers/registry.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';
import { createI18n } from '../../src/i18n/index.js';

const english = createI18n().getFixedT('en');

for (const dialect of testDialects()) {
  describe(`scan-all [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'bulk' } });
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'bulk'), 'bulk/app', Date.now());
      const facts = manifestFacts({ manifestSize: 1, size: 1 });
      for (let i = 0; i < 10; i++) await art.upsertArtifact(t.db, repo, `sha256:${String(i).repeat(64).slice(0, 64)}`, facts);
    });
    after(async () => t?.close({ drop: true }));

    const ctx = (controller: AbortController, enqueued: unknown[], stopAfter = Infinity): JobContext<{ reason?: string }> => ({
      id: 1,
      type: 'scan-all',
      payload: {},
      attempt: 1,
      signal: controller.signal,
      log: async () => undefined,
      progress: async () => undefined,
      enqueue: async (type, payload, opts) => {
        enqueued.push({ type, payload, opts });
        if (enqueued.length >= stopAfter) controller.abort('stopped');
        return { id: enqueued.length, created: true };
      },
    });

    it('queues one bulk-priority scan per artifact, each keyed by artifact', async () => {
      const enqueued: { opts?: { priority?: number; uniqueKey?: string } }[] = [];
      const r = (await scanAllJob(t.db).run(ctx(new AbortController(), enqueued))) as { artifacts: number; queued: number };
      assert.equal(r.artifacts, 10);
      assert.equal(enqueued.length, 10);
      assert.ok(enqueued.every((e) => e.opts?.priority === PRIORITY_BULK && /^scan:\d+$/.test(e.opts?.uniqueKey ?? '')));
    });

    it('once stopped, enqueues nothing more', async () => {
      const enqueued: unknown[] = [];
      await assert.rejects(scanAllJob(t.db).run(ctx(new AbortController(), enqueued, 3)));
      assert.equal(enqueued.length, 3);
      const none: unknown[] = [];
      const c = new AbortController();
      c.abort('stopped');
      await assert.rejects(scanAllJob(t.db).run(ctx(c, none)));
      assert.equal(none.length, 0);
    });

    it('reports progress as the scans finish, not as they are queued, and ends when the last one has', async () => {
      const progress: { p: number; text?: string }[] = [];
      const c: JobContext<{ reason?: string }> = {
        ...ctx(new AbortController(), []),
        // What the job center shows in English (the text stored for REST is the same words).
        progress: async (p, key, params) => void progress.push({ p, text: key ? english(`jobprogress.${key}`, params) : undefined }),
        enqueue: (type, payload, opts) => t.services.jobs.enqueue(type, payload, opts),
      };
      let finished = false;
      const run = scanAllJob(t.db, { pollMs: 20 })
        .run(c)
        .then((r) => {
          finished = true;
          return r;
        });
      // The runner is not started: the scans stay pending until this test finishes them one by one.
      const ids = await eventually(async () => {
        const rows = await t.db.selectFrom('jobs').select('id').where('type', '=', 'scan').where('status', '=', 'pending').orderBy('id').execute();
        return rows.length === 10 && rows.map((r) => Number(r.id));
      });
      await eventually(async () => progress.some((x) => x.text === '0 of 10 scans finished'));
      assert.ok(
        progress.every((x) => x.p === 0),
        'nothing finished yet',
      );
      for (const [i, id] of ids.entries()) {
        await t.db
          .updateTable('jobs')
          .set({ status: i % 3 === 0 ? 'error' : 'success' })
          .where('id', '=', id)
          .execute();
        await eventually(async () => progress.some((x) => x.text === `${i + 1} of 10 scans finished`));
        assert.equal(finished, i === 9 ? finished : false, 'still waiting while scans run');
      }
      assert.deepEqual(await run, { artifacts: 10, queued: 10 });
      assert.equal(progress.at(-1)!.p, 100);
    });

    it('reads the artifacts a page at a time: with pages of 3, all 10 are queued once and waited for, page after page', async () => {
      const enqueued: { payload: { artifactId?: number } }[] = [];
      const r = (await scanAllJob(t.db, { batchSize: 3 }).run(ctx(new AbortController(), enqueued as unknown[]))) as { artifacts: number; queued: number };
      assert.deepEqual(r, { artifacts: 10, queued: 10 });
      const ids = enqueued.map((e) => e.payload.artifactId!);
      assert.equal(new Set(ids).size, 10, 'each artifact once');
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        'in id order',
      );

      // the scans of the test above ended (their keys released, as the runner does)
      await t.db.updateTable('jobs').set({ unique_key: null }).where('type', '=', 'scan').execute();
      const progress: string[] = [];
      const c: JobContext<{ reason?: string }> = {
        ...ctx(new AbortController(), []),
        progress: async (_p, key, params) => void progress.push(key ? english(`jobprogress.${key}`, params) : ''),
        enqueue: (type, payload, opts) => t.services.jobs.enqueue(type, payload, opts),
      };
      const run = scanAllJob(t.db, { pollMs: 20, batchSize: 3 }).run(c);
      const jobs = await eventually(async () => {
        const rows = await t.db.selectFrom('jobs').select('id').where('type', '=', 'scan').where('status', '=', 'pending').orderBy('id').execute();
        return rows.length === 10 && rows.map((x) => Number(x.id));
      });
      for (const [i, id] of jobs.entries()) {
        await t.db.updateTable('jobs').set({ status: 'success' }).where('id', '=', id).execute();
        // the page holding this scan is the one waited on: the count follows each finished scan across pages
        await eventually(async () => progress.includes(`${i + 1} of 10 scans finished`));
      }
      assert.deepEqual(await run, { artifacts: 10, queued: 10 });
    });
  });
}
