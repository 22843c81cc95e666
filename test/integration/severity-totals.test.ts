import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import * as reports from '../../src/db/repos/scan-reports.js';
import { recountProjectTotals, recountSeverityTotals, severityTotals } from '../../src/db/repos/scan-totals.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { RECONCILE, reconcileJob } from '../../src/jobs/types/reconcile.js';
import { createLogger } from '../../src/log.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { RegistrySync } from '../../src/services/registry-sync.js';
import { deleteProjectRow } from '../../src/db/repos/projects.js';
import { projectScanTotals } from '../../migrations/2026-11-30-100-project-scan-totals.js';
import { repositoryArtifactCount } from '../../migrations/2026-11-30-230-repository-artifact-count.js';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { runToEnd } from '../helpers/jobs.js';
import { manifestFacts } from '../helpers/seed.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

/** A deterministic pseudo-random sequence (the same run on both dialects). */
function rng(seed: number) {
  let s = seed;
  return (n: number) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

const result = (r: (n: number) => number, completeness: 'complete' | 'incomplete' | 'not_applicable' = 'complete') => ({
  scanner: 'test',
  dbUpdatedAt: null,
  finishedAt: Date.now(),
  os: null,
  counts: { critical: r(3), high: r(4), medium: r(5), low: r(3), unknown: r(2) },
  fixable: 0,
  findings: [],
  packages: [],
  problems: [],
  completeness,
  gaps: [],
});

// The project page's chart and the dashboard's overview read per-project counters; these must equal a recount from
// the reports themselves after any interleaving of scans (running, finished, failed, not applicable, rescanned) with
// pushes and deletions of artifacts and repositories.
for (const dialect of testDialects()) {
  describe(`severity counters [${dialect}]`, () => {
    let t: TestApp;
    let ids: Record<string, number>;
    before(async () => {
      t = await startTestApp(dialect);
      for (const [name, pub] of [
        ['sev', false],
        ['sevpub', true],
        ['sevother', false],
      ] as const)
        assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name, public: pub } })).status, 201);
      const rows = await t.db.selectFrom('projects').select(['id', 'name']).execute();
      ids = Object.fromEntries(rows.map((r) => [r.name, Number(r.id)]));
    });
    after(async () => t?.close({ drop: true }));

    interface Live {
      repo: number;
      digest: string;
      id: number;
    }

    /**
     * `k` concurrent writes of the counters' kinds on random live artifacts: pushes, running/finished/failed/not
     * applicable/rescanned reports, deletions (some right after a report).
     */
    const mixedWrites = (r: (n: number) => number, live: Live[], push: () => Promise<void>, k: number): Promise<unknown>[] => {
      const db = t.db;
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < k; i++) {
        const a = live[r(live.length)];
        if (!a) continue;
        const op = r(13);
        const tolerate = (p: Promise<unknown>) =>
          p.catch((err: { code?: string; errno?: number }) => {
            // a report written for an artifact deleted in the same round fails on its foreign key, as a scan would
            if (err.errno === 1452 || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return;
            throw err;
          });
        if (op <= 2) ops.push(push());
        else if (op === 3) ops.push(tolerate(reports.markReportRunning(db, a.id, { jobId: null, startedAt: Date.now(), scanner: 'test' })));
        else if (op <= 7) ops.push(tolerate(reports.upsertReportResult(db, a.id, { ...result(r), jobId: null, startedAt: Date.now() })));
        else if (op === 8) ops.push(reports.saveReportResult(db, a.id, result(r, r(2) ? 'incomplete' : 'not_applicable')));
        else if (op === 9) ops.push(reports.markReportFailed(db, a.id, 'boom', Date.now()));
        else if (op === 10) ops.push(art.deleteArtifact(db, a.repo, a.digest));
        // a batch of pull counts, in a transaction as the inbox flushes them (it locks the repository row too)
        else if (op === 12) ops.push(db.transaction().execute((trx) => art.addPulls(trx, a.id, a.repo, 1, Date.now())));
        else ops.push(tolerate(reports.upsertReportResult(db, a.id, { ...result(r), jobId: null, startedAt: Date.now() })).then(() => art.deleteArtifact(db, a.repo, a.digest)));
      }
      return ops;
    };
    /** Every repository's artifact_count counter against a count of its rows. */
    const repositoryCountsMatch = async (when: string) => {
      const rows = await t.db
        .selectFrom('repositories as r')
        .select(['r.name', 'r.artifact_count'])
        .select((eb) =>
          eb
            .selectFrom('artifacts as a')
            .select((e) => e.fn.countAll<number>().as('n'))
            .whereRef('a.repository_id', '=', 'r.id')
            .as('counted'),
        )
        .execute();
      assert.ok(rows.length > 0);
      for (const x of rows) assert.equal(Number(x.artifact_count), Number(x.counted), `${x.name} artifact_count ${when}`);
    };
    const forgetDeleted = async (live: Live[]) => {
      for (let i = live.length - 1; i >= 0; i--) if (!(await art.findArtifact(t.db, live[i]!.repo, live[i]!.digest))) live.splice(i, 1);
    };

    it('equal a recount after concurrent scans, rescans, failures, pushes and deletions', async () => {
      const db = t.db;
      const r = rng(7);
      const repos: number[] = [];
      for (const p of ['sev', 'sevpub', 'sevother']) for (const k of [1, 2, 3]) repos.push(await art.ensureRepository(db, ids[p]!, `${p}/r${k}`, Date.now()));
      const live: Live[] = [];
      let n = 0;
      const push = async () => {
        const repo = repos[r(repos.length)]!;
        const d = digest(++n);
        const id = await art.upsertArtifact(db, repo, d, manifestFacts({ pushedBy: 'x' }));
        live.push({ repo, digest: d, id });
      };
      for (let i = 0; i < 40; i++) await push();
      // Rounds of concurrent operations; on MariaDB they run on separate pooled connections.
      for (let round = 0; round < 12; round++) {
        await Promise.all(mixedWrites(r, live, push, 16));
        // after every round, not only at the end: a drift and its opposite must not cancel out
        for (const p of ['sev', 'sevpub', 'sevother']) assert.deepEqual(await severityTotals(db, { projectId: ids[p]! }), await recountSeverityTotals(db, ids[p]!), `${p} after round ${round}`);
        await repositoryCountsMatch(`after round ${round}`);
        await forgetDeleted(live);
      }
      // a whole repository goes, with its artifacts and reports
      await art.deleteRepositoryRow(db, repos[1]!);
      for (const p of ['sev', 'sevpub', 'sevother']) {
        const counted = await severityTotals(db, { projectId: ids[p]! });
        const truth = await recountSeverityTotals(db, ids[p]!);
        assert.deepEqual(counted, truth, p);
      }
      // the admin dashboard's artifact count reads the same counters
      const count = Number(
        (
          await db
            .selectFrom('artifacts')
            .select((e) => e.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      assert.equal((await t.services.repositories.systemCounts()).artifacts, count);
      const sev = await recountSeverityTotals(db, ids.sev!);
      assert.ok(sev.scanned > 0 && sev.artifacts > sev.scanned && sev.counts.critical > 0, `the workload left reports and unscanned artifacts: ${JSON.stringify(sev)}`);
    });

    it('show on the project page and, per visibility, on the dashboard', async () => {
      const db = t.db;
      const truth = Object.fromEntries(await Promise.all(Object.entries(ids).map(async ([k, v]) => [k, await recountSeverityTotals(db, v)] as const)));
      const browser = new Browser(t);
      await browser.login(ADMIN[0], ADMIN[1]);
      const label = (html: string) => /<svg class="sevcols" role="img" aria-label="([^"]+)"/.exec(html)?.[1] ?? '';
      const words = (c: Record<string, number>) => `${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown`;
      const page = await (await browser.fetch('/projects/sev')).text();
      assert.equal(label(page), words(truth.sev!.counts));
      const all = await (await browser.fetch('/')).text();
      const sum = (names: string[]) => {
        const c = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
        for (const nm of names) for (const k of Object.keys(c) as (keyof typeof c)[]) c[k] += truth[nm]!.counts[k];
        return c;
      };
      assert.equal(label(all), words(sum(['sev', 'sevpub', 'sevother'])));
      // a member of one private project sees it and the public one only
      const dev = await createUser(t, 'sevdev');
      assert.equal((await t.req('/api/v1/projects/sev/members', { method: 'POST', auth: ADMIN, json: { username: dev[0], role: 'guest' } })).status, 201);
      const other = new Browser(t);
      await other.login(dev[0], dev[1]);
      assert.equal(label(await (await other.fetch('/')).text()), words(sum(['sev', 'sevpub'])));
      const scanned = truth.sev!.scanned + truth.sevpub!.scanned;
      const artifacts = truth.sev!.artifacts + truth.sevpub!.artifacts;
      assert.ok((await (await other.fetch('/')).text()).includes(`${scanned} of ${artifacts} images scanned.`));
    });

    it('go with a deleted project, and the migration rebuilds them from the rows', async () => {
      const db = t.db;
      const rows = await db.selectFrom('project_scan_totals').selectAll().orderBy('project_id').execute();
      await db.deleteFrom('project_scan_totals').execute();
      await projectScanTotals.up(db);
      assert.deepEqual(await db.selectFrom('project_scan_totals').selectAll().orderBy('project_id').execute(), rows);
      // the repositories' artifact counts likewise (migration 230, re-run over wrong counts)
      await db.updateTable('repositories').set({ artifact_count: 0 }).execute();
      await repositoryArtifactCount.up(db);
      await repositoryCountsMatch('after migration 230');
      assert.ok(await deleteProjectRow(db, ids.sevother!));
      assert.equal((await db.selectFrom('project_scan_totals').select('project_id').where('project_id', '=', ids.sevother!).execute()).length, 0);
    });

    it('drift (a manual edit, a lost row) is recounted by the reconcile job, and the project page shows the rows again', async () => {
      const db = t.db;
      const truth = async (p: string) => recountSeverityTotals(db, ids[p]!);
      const sev = await truth('sev');
      assert.ok(sev.scanned > 0 && sev.counts.critical > 0, 'the first test left reports to count');
      // Corrupt the counters behind Berth's back: one project's numbers edited, another's row gone.
      await db
        .updateTable('project_scan_totals')
        .set((eb) => ({ critical: eb('critical', '+', 7), scanned: 0, artifacts: 999 }))
        .where('project_id', '=', ids.sev!)
        .execute();
      await db.deleteFrom('project_scan_totals').where('project_id', '=', ids.sevpub!).execute();
      // and one repository's artifact count
      await db.updateTable('repositories').set({ artifact_count: 12345 }).where('name', '=', 'sev/r1').execute();
      const listed = async () => {
        const res = await t.req('/api/v1/projects/sev/repositories?q=r1', { auth: ADMIN });
        assert.equal(res.status, 200);
        return ((await res.json()) as { items: { name: string; artifact_count: number }[] }).items.find((x) => x.name === 'sev/r1')!.artifact_count;
      };
      assert.equal(await listed(), 12345, 'the list reads the counter');
      const browser = new Browser(t);
      await browser.login(ADMIN[0], ADMIN[1]);
      const label = (html: string) => /<svg class="sevcols" role="img" aria-label="([^"]+)"/.exec(html)?.[1] ?? '';
      const words = (c: Record<string, number>) => `${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown`;
      const page = async (p: string) => (await browser.fetch(`/projects/${p}`)).text();
      assert.notEqual(label(await page('sev')), words(sev.counts), 'the page shows the corrupted counters');
      // The reconcile job, as the schedule or POST /system/reconcile runs it; its registry walk sees nothing to repair.
      const registry = {
        catalog: async () => ({ repositories: [], more: false }),
        tags: async () => [],
        resolve: async (_repo: string, ref: string) => ref,
        repositoryListed: async () => false,
      } as unknown as RegistryClient;
      const runner = new JobRunner(db, t.dialect, createLogger('silent'), { pollMs: 20 });
      runner.register(reconcileJob(new RegistrySync(db, registry, createLogger('silent'))));
      const job = await runToEnd(runner, RECONCILE, { reason: 'manual' });
      assert.equal(job.status, 'success', JSON.stringify(job));
      const result = job.result as { countersRecounted: number; countersRepaired: number; repositoryCountsRepaired: number };
      assert.equal(result.countersRepaired, 2);
      assert.equal(result.repositoryCountsRepaired, 1);
      await repositoryCountsMatch('after the reconcile job');
      const r1 = await art.findRepository(db, 'sev/r1');
      assert.equal(await listed(), (await art.repositoryState(db, r1!.id)).artifacts.length);
      assert.ok(result.countersRecounted >= 2);
      for (const p of ['sev', 'sevpub']) assert.deepEqual(await severityTotals(db, { projectId: ids[p]! }), await truth(p), p);
      const html = await page('sev');
      assert.equal(label(html), words(sev.counts));
      assert.ok(html.includes(`${sev.scanned} of ${sev.artifacts} artifacts scanned`), 'the scanned line too');
      // Nothing drifted since: a second run repairs nothing.
      const again = await new RegistrySync(db, registry, createLogger('silent')).recountCounters();
      assert.equal(again.countersRepaired, 0);
      assert.equal(again.repositoryCountsRepaired, 0);
    });

    it('a recount racing pushes, scans and deletions leaves the counters equal to the rows', async () => {
      const db = t.db;
      const r = rng(11);
      const repos: number[] = [];
      for (const p of ['sev', 'sevpub']) for (const k of [7, 8]) repos.push(await art.ensureRepository(db, ids[p]!, `${p}/race${k}`, Date.now()));
      const live: Live[] = [];
      let n = 100_000;
      const push = async () => {
        const repo = repos[r(repos.length)]!;
        const d = digest(++n);
        const id = await art.upsertArtifact(db, repo, d, manifestFacts({ pushedBy: 'x' }));
        live.push({ repo, digest: d, id });
      };
      for (let i = 0; i < 30; i++) await push();
      let drifts = 0;
      for (let round = 0; round < 10; round++) {
        // a drift for the recounts to repair while the writes land
        await db
          .updateTable('project_scan_totals')
          .set((eb) => ({ high: eb('high', '+', 3) }))
          .where('project_id', '=', ids.sev!)
          .execute();
        const writes = mixedWrites(r, live, push, 16);
        // batches of 2 rows, so each recount spans many queries between which writers run
        const recounts = [0, 1, 2].map(async (i) => {
          await new Promise((ok) => setTimeout(ok, i * 2));
          const out = await recountProjectTotals(db, ids[i === 1 ? 'sevpub' : 'sev']!, 2);
          if (out?.drifted) drifts++;
        });
        await Promise.all([...writes, ...recounts]);
        for (const p of ['sev', 'sevpub']) assert.deepEqual(await severityTotals(db, { projectId: ids[p]! }), await recountSeverityTotals(db, ids[p]!), `${p} after round ${round}`);
        await repositoryCountsMatch(`after round ${round}`);
        await forgetDeleted(live);
      }
      assert.ok(drifts >= 10, `every round's drift was found and repaired (${drifts})`);
    });
  });
}
