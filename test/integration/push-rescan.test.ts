import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { touchAdvisoryDb } from '../../src/db/repos/advisories.js';
import * as reports from '../../src/db/repos/scan-reports.js';
import { SCAN_IMAGE } from '../../src/jobs/types/scan.js';
import { SCANNER_VERSION } from '../../src/services/scan-service.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

/**
 * Auto-scan on push scans a digest pushed again (under another tag, or the same one) only when its report does not
 * already judge it against the advisories loaded now.
 */
for (const dialect of testDialects()) {
  describe(`auto-scan of a digest pushed again [${dialect}]`, () => {
    let t: TestApp;
    let repo: number;
    /** A scanner adapter on loopback that answers its metadata only (the project picks it; no scan runs here). */
    const adapter = http.createServer((req, res) => {
      if (req.url !== '/api/v1/metadata') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/vnd.scanner.adapter.metadata+json; version=1.0' });
      res.end(
        JSON.stringify({
          scanner: { name: 'StubScan', vendor: 'Berth tests', version: '9.9' },
          capabilities: [{ consumes_mime_types: ['application/vnd.oci.image.manifest.v1+json'], produces_mime_types: ['application/vnd.security.vulnerability.report; version=1.1'] }],
          properties: {},
        }),
      );
    });
    before(async () => {
      await new Promise<void>((r) => adapter.listen(0, '127.0.0.1', () => r()));
      // The adapter is on loopback, which the outbound policy refuses unless allowed.
      t = await startTestApp(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' });
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'again', auto_scan: true } })).status, 201);
      repo = await art.ensureRepository(t.db, await projectId(t.db, 'again'), 'again/app', Date.now());
    });
    after(async () => {
      await t?.close({ drop: true });
      adapter.close();
    });

    const d = (c: string) => `sha256:${c.repeat(64)}`;
    const scansOf = async (id: number) => (await t.db.selectFrom('jobs').select('payload').where('type', '=', SCAN_IMAGE).execute()).filter((j) => JSON.parse(j.payload).artifactId === id).length;
    /** A second push of the digest, as the registry's event announces it, once no scan of it is open. */
    const pushedAgain = async (id: number, digest: string) => {
      await t.db.updateTable('jobs').set({ status: 'success', finished_at: Date.now() }).where('type', '=', SCAN_IMAGE).execute();
      await t.db.updateTable('jobs').set({ unique_key: null }).where('type', '=', SCAN_IMAGE).execute();
      await t.services.scanRequests.onArtifactPushed({ repository: 'again/app', digest, artifactId: id, tag: 'second' });
    };
    /** A report the built-in scanner (or `scanner`) finished at `finishedAt`, having read the advisories of `dbUpdatedAt`. */
    const report = (completeness: 'complete' | 'incomplete', finishedAt: number, dbUpdatedAt: number | null = finishedAt - 5000, scanner = SCANNER_VERSION) => ({
      scanner,
      dbUpdatedAt,
      finishedAt,
      os: null,
      counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 },
      fixable: 0,
      findings: [],
      packages: [],
      problems: [],
      completeness,
      gaps: completeness === 'incomplete' ? [{ kind: 'layer', detail: 'x' }] : [],
    });

    it('no second scan for a report finished after the advisories were loaded; a scan otherwise', async () => {
      const advisoriesAt = Date.now() - 60_000;
      await touchAdvisoryDb(t.db, advisoriesAt);
      const cases = [
        { c: 'a', report: report('complete', advisoriesAt + 1000, advisoriesAt), rescans: 0 },
        { c: 'b', report: report('complete', advisoriesAt - 1000), rescans: 1 },
        { c: 'c', report: report('incomplete', advisoriesAt + 1000), rescans: 1 },
        { c: 'd', report: null, rescans: 1 },
        // began before an import and finished after it: matched the older advisories
        { c: 'f', report: report('complete', advisoriesAt + 1000, advisoriesAt - 30_000), rescans: 1 },
        // another scanner (an adapter, whose advisories Berth does not know) or another version of Berth's
        // read an update stamped later than the one the database is at now (a replica whose clock runs behind updated it since)
        { c: '3', report: report('complete', advisoriesAt + 1000, advisoriesAt + 500), rescans: 1 },
        { c: '1', report: report('complete', advisoriesAt + 1000, null, 'StubScan/9.9'), rescans: 1 },
        { c: '2', report: report('complete', advisoriesAt + 1000, advisoriesAt, 'berth-osv/0'), rescans: 1 },
      ];
      for (const k of cases) {
        const id = await art.upsertArtifact(t.db, repo, d(k.c), manifestFacts());
        if (k.report) await reports.upsertReportResult(t.db, id, { ...k.report, jobId: null, startedAt: k.report.finishedAt - 10 } as never);
        const before = await scansOf(id);
        await pushedAgain(id, d(k.c));
        assert.equal((await scansOf(id)) - before, k.rescans, `case ${k.c}`);
      }
      // a failed scan is scanned again
      const id = await art.upsertArtifact(t.db, repo, d('e'), manifestFacts());
      await reports.upsertReportResult(t.db, id, { ...report('complete', advisoriesAt + 1000), jobId: null, startedAt: advisoriesAt } as never);
      await reports.markReportFailed(t.db, id, 'boom', Date.now());
      const before = await scansOf(id);
      await pushedAgain(id, d('e'));
      assert.equal((await scansOf(id)) - before, 1, 'after an error');
    });

    it('a project scanned by an adapter scans a digest pushed again, though the built-in scanner judged it against the advisories loaded now', async () => {
      const advisoriesAt = Date.now() - 60_000;
      await touchAdvisoryDb(t.db, advisoriesAt);
      const id = await art.upsertArtifact(t.db, repo, d('9'), manifestFacts());
      await reports.upsertReportResult(t.db, id, { ...report('complete', advisoriesAt + 1000, advisoriesAt), jobId: null, startedAt: advisoriesAt } as never);
      let before = await scansOf(id);
      await pushedAgain(id, d('9'));
      assert.equal((await scansOf(id)) - before, 0, 'built-in scanner, current report');
      const url = `http://127.0.0.1:${(adapter.address() as AddressInfo).port}`;
      assert.equal((await t.req('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'stub', url } })).status, 201);
      assert.equal((await t.req('/api/v1/projects/again/scanner', { method: 'PUT', auth: ADMIN, json: { scanner: 'stub' } })).status, 200);
      before = await scansOf(id);
      await pushedAgain(id, d('9'));
      assert.equal((await scansOf(id)) - before, 1, 'the adapter never judged it');
    });
  });
}
