import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { insertScanReportRow, manifestFacts, projectId } from '../helpers/seed.js';

/**
 * A repository's artifact rows call an image "clean" only when its last scan read all of it: a scan that could not
 * read a part (completeness `incomplete`) and found nothing says so instead, as the artifact page and the pull gate
 * (which treats it as unscanned) do. Before, such a row read "clean" in green.
 */
for (const dialect of testDialects()) {
  describe(`the scan cell of an artifact row [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('reads "scan incomplete", not "clean", for an incomplete scan without findings; "clean" for a complete one', async () => {
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'verdicts' } })).status, 201);
      const facts = () => manifestFacts({ configDigest: `sha256:${'c'.repeat(64)}`, os: 'linux', architecture: 'amd64', type: 'image' });
      const repoId = await art.ensureRepository(t.db, await projectId(t.db, 'verdicts'), 'verdicts/app', Date.now());
      const partial = await art.upsertArtifact(t.db, repoId, `sha256:${'a'.repeat(64)}`, facts());
      await art.setTag(t.db, repoId, partial, 'partial', Date.now());
      await insertScanReportRow(t.db, partial, [], { completeness: 'incomplete', db_updated_at: Date.now() });
      const whole = await art.upsertArtifact(t.db, repoId, `sha256:${'b'.repeat(64)}`, facts());
      await art.setTag(t.db, repoId, whole, 'whole', Date.now());
      await insertScanReportRow(t.db, whole, [], { completeness: 'complete', db_updated_at: Date.now() });

      const b = new Browser(t);
      await b.login(...ADMIN);
      for (const [lang, incomplete, clean] of [
        ['en', 'scan incomplete', 'clean'],
        ['zh-CN', '扫描不完整', '无漏洞'],
      ] as const) {
        const html = await (await b.fetch('/projects/verdicts/repositories/app', { headers: { 'accept-language': lang } })).text();
        const row = (tag: string) => {
          const tr = html.split('<tr').find((r) => r.includes(`>${tag}<`));
          assert.ok(tr, `${lang}: a row for ${tag}`);
          return tr;
        };
        assert.doesNotMatch(row('partial'), new RegExp(`state-success">${clean}<`), `${lang}: the incomplete scan is not called clean`);
        assert.match(row('partial'), new RegExp(`>${incomplete}<`), lang);
        assert.match(row('whole'), new RegExp(`state-success">${clean}<`), lang);
      }
    });
  });
}
