import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import * as reports from '../../src/db/repos/scan-reports.js';
import { recountSeverityTotals, severityTotals } from '../../src/db/repos/scan-totals.js';
import { deleteProjectRow } from '../../src/db/repos/projects.js';
import { projectScanTotals } from '../../migrations/2026-11-30-100-project-scan-totals.js';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
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

    it('equal a recount after concurrent scans, rescans, failures, pushes and deletions', async () => {
      const db = t.db;
      const r = rng(7);
      const repos: number[] = [];
      for (const p of ['sev', 'sevpub', 'sevother']) for (const k of [1, 2, 3]) repos.push(await art.ensureRepository(db, ids[p]!, `${p}/r${k}`, Date.now()));
      const live: { repo: number; digest: string; id: number }[] = [];
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
        const ops: Promise<unknown>[] = [];
        for (let k = 0; k < 16; k++) {
          const a = live[r(live.length)];
          if (!a) continue;
          const op = r(12);
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
          else ops.push(tolerate(reports.upsertReportResult(db, a.id, { ...result(r), jobId: null, startedAt: Date.now() })).then(() => art.deleteArtifact(db, a.repo, a.digest)));
        }
        await Promise.all(ops);
        // after every round, not only at the end: a drift and its opposite must not cancel out
        for (const p of ['sev', 'sevpub', 'sevother']) assert.deepEqual(await severityTotals(db, { projectId: ids[p]! }), await recountSeverityTotals(db, ids[p]!), `${p} after round ${round}`);
        for (let i = live.length - 1; i >= 0; i--) if (!(await art.findArtifact(db, live[i]!.repo, live[i]!.digest))) live.splice(i, 1);
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
      assert.ok(await deleteProjectRow(db, ids.sevother!));
      assert.equal((await db.selectFrom('project_scan_totals').select('project_id').where('project_id', '=', ids.sevother!).execute()).length, 0);
    });
  });
}
