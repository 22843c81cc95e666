import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { replaceReportFindings, type IndexedFinding } from '../../src/db/repos/findings.js';
import * as reports from '../../src/db/repos/scan-reports.js';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

const finding = (id: string, severity: string): IndexedFinding => ({ advisoryId: id, aliases: [], package: 'libfoo1', type: 'deb', installedVersion: '1.0', fixedVersion: null, severity });

const report = (counts: { critical: number; high: number; medium: number; low: number; unknown: number }, completeness: 'complete' | 'not_applicable') => ({
  jobId: null,
  startedAt: Date.now(),
  scanner: 'test',
  dbUpdatedAt: null,
  finishedAt: Date.now(),
  os: null,
  counts,
  fixable: 0,
  findings: [],
  packages: [],
  problems: completeness === 'not_applicable' ? ['signature artifacts are not scanned'] : [],
  completeness,
  gaps: [],
});

/**
 * One rule for what a summary of reports counts, wherever it is shown: an artifact Berth does not scan (a signature,
 * an SBOM, a chart: its report says `not_applicable`) counts as neither scanned nor vulnerable. The security hub's
 * summary (REST, and the page built on it) and the project page's totals (the per-project counters) must agree for
 * a project holding an image, a not-scannable artifact and an unscanned one.
 */
for (const dialect of testDialects()) {
  describe(`security hub summary and project totals agree [${dialect}]`, () => {
    let t: TestApp;
    let image: number;
    let signature: number;
    before(async () => {
      t = await startTestApp(dialect);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'hubtot' } })).status, 201);
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'hubtot'), 'hubtot/app', Date.now());
      image = await art.upsertArtifact(t.db, repo, digest(1), manifestFacts({ type: 'image' }));
      signature = await art.upsertArtifact(t.db, repo, digest(2), manifestFacts({ type: 'signature', subject: digest(1) }));
      await art.upsertArtifact(t.db, repo, digest(3), manifestFacts({ type: 'image' }));
      await reports.upsertReportResult(t.db, image, report({ critical: 2, high: 1, medium: 0, low: 3, unknown: 0 }, 'complete'));
      await replaceReportFindings(t.db, image, [
        finding('CVE-2024-0001', 'critical'),
        finding('CVE-2024-0002', 'critical'),
        finding('CVE-2024-0003', 'high'),
        finding('CVE-2024-0004', 'low'),
        finding('CVE-2024-0005', 'low'),
        finding('CVE-2024-0006', 'low'),
      ]);
      // The signature was indexed once (say, by an external adapter that read it), then found not scannable.
      await replaceReportFindings(t.db, signature, [finding('CVE-2099-0001', 'critical')]);
      await reports.upsertReportResult(t.db, signature, report({ critical: 0, high: 0, medium: 0, low: 0, unknown: 0 }, 'not_applicable'));
    });
    after(async () => t?.close({ drop: true }));

    it('counts the image as scanned and vulnerable, the signature as neither, on the hub and the project page alike', async () => {
      const hub = await (await t.req('/api/v1/vulnerabilities/summary?project=hubtot', { auth: ADMIN })).json();
      assert.equal(hub.scanned_artifacts, 1, 'the not-scannable signature is not a scanned artifact');
      assert.deepEqual(hub.totals, { critical: 2, high: 1, medium: 0, low: 3, unknown: 0 });
      assert.deepEqual(
        hub.most_vulnerable.map((a: { digest: string }) => a.digest),
        [digest(1)],
      );
      assert.ok(!hub.top_cves.some((c: { cve: string }) => c.cve === 'CVE-2099-0001'), 'nothing of the signature is a top CVE');
      assert.equal(hub.top_cves.length, 6);
      // The project page reads the counters.
      const browser = new Browser(t);
      await browser.login(ADMIN[0], ADMIN[1]);
      const page = await (await browser.fetch('/projects/hubtot')).text();
      assert.ok(page.includes(`${hub.scanned_artifacts} of 3 artifacts scanned`), 'the project page says the same number scanned');
      const label = /<svg class="sevcols" role="img" aria-label="([^"]+)"/.exec(page)?.[1];
      const c = hub.totals;
      assert.equal(label, `${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown`);
      // And across every project (the dashboard's overview and the hub without a project).
      const all = await (await t.req('/api/v1/vulnerabilities/summary', { auth: ADMIN })).json();
      const dashboard = await (await browser.fetch('/')).text();
      assert.ok(dashboard.includes(`${all.scanned_artifacts} of 3 images scanned.`), 'the dashboard agrees with the hub');
      const totals = await t.services.scans.projectTotals(await projectId(t.db, 'hubtot'));
      assert.deepEqual({ counts: totals.counts, scanned: totals.scanned }, { counts: hub.totals, scanned: hub.scanned_artifacts });
    });
  });
}
