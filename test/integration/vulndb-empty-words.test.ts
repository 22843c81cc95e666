import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * The empty advisory database page tells how to fill it: import a file here, or name feeds in BERTH_VULNDB_URLS. It
 * told a newcomer to "configure feeds for the vulndb-update job", a job code, with no word of where (from the
 * newcomer walkthrough: the banner on every page links here).
 */
for (const dialect of testDialects()) {
  describe(`the empty advisory database page [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('names the setting that configures feeds, in English and Chinese, and no job code', async () => {
      const b = new Browser(t);
      await b.login(...ADMIN);
      for (const lang of ['en', 'zh-CN']) {
        const html = await (await b.fetch('/vulndb', { headers: { 'accept-language': lang } })).text();
        const empty = /<td colspan="2" class="empty">([^<]*)<\/td>/.exec(html)?.[1] ?? '';
        assert.match(empty, /BERTH_VULNDB_URLS/, `${lang}: ${empty}`);
        assert.doesNotMatch(empty, /vulndb-update/, `${lang}: ${empty}`);
      }
    });
  });
}
