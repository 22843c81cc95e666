import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { boundedLists } from '../../migrations/2026-11-30-150-bounded-lists.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { projectId } from '../helpers/seed.js';

/**
 * Migration 150 fills `retention_runs` and `retention_run_items` from the retention jobs recorded before it (whose
 * project lived only in the payload, and whose decisions only in the result), so runs from before the upgrade still
 * page on the project's retention page and REST.
 */
for (const dialect of testDialects()) {
  describe(`retention runs migration backfills runs recorded before it [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    /** A retention job row as the version before migration 150 wrote it. */
    const oldJob = async (payload: string, result: unknown, createdAt: number) => {
      const now = Date.now();
      const res = await t.db
        .insertInto('jobs')
        .values({
          type: 'retention',
          status: 'success',
          priority: 0,
          unique_key: null,
          release_key: 0,
          payload,
          attempt: 1,
          failures: 0,
          max_attempts: 1,
          run_at: createdAt,
          lease_until: null,
          worker_id: null,
          stop_requested: 0,
          progress: 100,
          progress_text: null,
          error: null,
          result: result === undefined ? null : typeof result === 'string' ? result : JSON.stringify(result),
          hook_url: null,
          created_at: createdAt,
          updated_at: now,
          started_at: createdAt,
          finished_at: createdAt + 10,
        })
        .executeTakeFirstOrThrow();
      return Number(res.insertId);
    };

    it('each old run of an existing project becomes a run with its listed decisions; bad rows are skipped; a re-run adds nothing', async () => {
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'oldret' } })).status, 201);
      const pid = await projectId(t.db, 'oldret');
      const base = Date.now() - 86_400_000;
      const d = (c: string) => `sha256:${c.repeat(64)}`;
      const dry = await oldJob(
        JSON.stringify({ projectId: pid, dryRun: true, trigger: 'manual' }),
        { deleted: [{ repository: 'oldret/app', digest: d('a'), tags: ['1.0', '1.1'], size: 1234, reason: 'not among the 3 most recently pushed' }], failed: [] },
        base,
      );
      const real = await oldJob(
        JSON.stringify({ projectId: pid, dryRun: false, trigger: 'schedule' }),
        {
          deleted: [{ repository: 'oldret/app', digest: d('b'), tags: [], size: 99, reason: 'untagged' }],
          failed: [{ repository: 'oldret/app', digest: d('c'), error: 'immutable tag' }],
        },
        base + 1000,
      );
      // Skipped: a payload that is not JSON, a project that is gone; kept without decisions: a result that is not JSON.
      await oldJob('{not json', { deleted: [] }, base + 2000);
      await oldJob(JSON.stringify({ projectId: 999_999, dryRun: false, trigger: 'manual' }), { deleted: [] }, base + 3000);
      const garbled = await oldJob(JSON.stringify({ projectId: pid, dryRun: false, trigger: 'manual' }), '{oops', base + 4000);

      await boundedLists.up!(t.db as never);
      await boundedLists.up!(t.db as never); // a re-run adds nothing

      const runs = await t.req('/api/v1/projects/oldret/retention/runs', { auth: ADMIN });
      assert.equal(runs.status, 200);
      const listed = (await runs.json()) as { items: { id: number; dry_run: boolean; trigger: string }[] };
      assert.deepEqual(
        listed.items.map((r) => [r.id, r.dry_run, r.trigger]),
        [
          [garbled, false, 'manual'],
          [real, false, 'schedule'],
          [dry, true, 'manual'],
        ],
        'newest first, with the payload’s dry-run flag and trigger',
      );
      const items = async (job: number) => {
        const res = await t.req(`/api/v1/projects/oldret/retention/runs/${job}/items`, { auth: ADMIN });
        assert.equal(res.status, 200);
        return ((await res.json()) as { items: Record<string, unknown>[] }).items;
      };
      const dryItems = await items(dry);
      assert.equal(dryItems.length, 1);
      assert.equal(dryItems[0]!.outcome, 'would_delete');
      assert.equal(dryItems[0]!.digest, d('a'));
      assert.deepEqual(dryItems[0]!.tags, ['1.0', '1.1']);
      const realItems = await items(real);
      assert.deepEqual(
        realItems.map((i) => [i.outcome, i.digest]),
        [
          ['deleted', d('b')],
          ['failed', d('c')],
        ],
      );
      assert.equal(realItems[1]!.error, 'immutable tag');
      assert.deepEqual(await items(garbled), []);
      const rows = await t.db.selectFrom('retention_run_items').select('id').execute();
      assert.equal(rows.length, 3, 'the re-run listed no decision twice');
    });
  });
}
