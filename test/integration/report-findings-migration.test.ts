import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { reportFindings } from '../../migrations/2026-11-29-071-report-findings.js';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { insertScanReportRow, manifestFacts, projectId } from '../helpers/seed.js';

for (const dialect of testDialects()) {
  describe(`report_findings migration copies reports written before it [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('indexes each finding under every CVE it names (or its advisory id), once, and can be re-run', async () => {
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'mig' } })).status, 201);
      const db = t.db;
      const repoId = await art.ensureRepository(db, await projectId(db, 'mig'), 'mig/app', Date.now());
      const id = await art.upsertArtifact(db, repoId, `sha256:${'a'.repeat(64)}`, manifestFacts());
      const findings = [
        { advisoryId: 'DEBIAN-CVE-2024-1', aliases: ['CVE-2024-1', 'CVE-2024-2'], package: 'libx', type: 'deb', installedVersion: '1.0-1', fixedVersion: '1.0-2', severity: 'high' },
        { advisoryId: 'GHSA-aaaa-bbbb-cccc', aliases: [], package: 'lodash', type: 'npm', installedVersion: '4.0.0', fixedVersion: null, severity: 'critical' },
      ];
      await insertScanReportRow(db, id, findings);
      await reportFindings.up!(db as never);
      await reportFindings.up!(db as never); // a re-run adds nothing
      const rows = await db.selectFrom('report_findings').select(['cve', 'advisory_id', 'package', 'version', 'severity', 'severity_rank']).where('artifact_id', '=', id).orderBy('cve').execute();
      assert.deepEqual(
        rows.map((r) => [r.cve, r.advisory_id, r.package, r.version, r.severity, Number(r.severity_rank)]),
        [
          ['CVE-2024-1', 'DEBIAN-CVE-2024-1', 'libx', '1.0-1', 'high', 3],
          ['CVE-2024-2', 'DEBIAN-CVE-2024-1', 'libx', '1.0-1', 'high', 3],
          ['GHSA-aaaa-bbbb-cccc', 'GHSA-aaaa-bbbb-cccc', 'lodash', '4.0.0', 'critical', 4],
        ],
      );
      const hit = await (await t.req('/api/v1/vulnerabilities?cve=CVE-2024-2', { auth: ADMIN })).json();
      assert.equal(hit.total, 1);
      assert.equal(hit.items[0].repository, 'mig/app');
    });
  });
}
