import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * The schedules page names the job each schedule runs in the page's language, as the job center does (it read the
 * raw type: '运行 gc', '运行 scan-all' on the Chinese page; found walking the UI in Chinese).
 */
for (const dialect of testDialects()) {
  describe(`schedules page words [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('says which job each schedule runs in English and in Chinese, never the type code', async () => {
      await t.services.scheduler.start(); // stores the default schedules
      const b = new Browser(t);
      await b.login(...ADMIN);
      const read = async (lang: string) => {
        const res = await b.fetch('/schedules', { headers: { 'accept-language': lang } });
        assert.equal(res.status, 200);
        const html = await res.text();
        return [...html.matchAll(/<h2>[\s\S]*?<\/h2>/g)].map((m) =>
          m[0]
            .replace(/<[^>]+>/g, '')
            .replace(/\s+/g, ' ')
            .trim(),
        );
      };
      const en = await read('en');
      const zh = await read('zh-CN');
      assert.ok(en.length >= 3, `schedules listed: ${en.join(' | ')}`);
      assert.ok(en.includes('gc runs garbage collection'), en.join(' | '));
      assert.ok(en.includes('scan-all runs scan all'), en.join(' | '));
      assert.ok(zh.includes('gc 运行 垃圾回收'), zh.join(' | '));
      assert.ok(zh.includes('reconcile 运行 对账同步'), zh.join(' | '));
      for (const h of zh) assert.doesNotMatch(h, /运行 [a-z]/, h);
    });
  });
}
