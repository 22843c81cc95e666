import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { eventually, startInstance, type Instance } from '../helpers/registry.js';

/** What the clipboard receives when a user selects the element's whole text and copies it. */
async function copiedText(page: Page, selector: string): Promise<string> {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) throw new Error(`no ${sel}`);
    const range = document.createRange();
    range.selectNodeContents(el);
    const s = window.getSelection()!;
    s.removeAllRanges();
    s.addRange(range);
    return s.toString();
  }, selector);
}

// Text shown in <pre> blocks keeps its line breaks when copied: the push commands, job logs.
for (const dialect of testDialects()) {
  describe(`browser: multi-line text keeps its lines [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    before(async () => {
      b = await startInstance(dialect);
      browser = await launchChromium();
      page = await browser.newPage();
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('copies the "How to push" commands one per line', async () => {
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'lines' } })).status, 201);
      await page.goto(`${b.url}/projects/lines`);
      await page.screenshot({ path: shot(`text-howto-${dialect}`), fullPage: true });
      const blocks = await page.locator('.howto pre').count();
      assert.equal(blocks, 2);
      const docker = (await copiedText(page, '.howto pre:nth-of-type(1)')).trimEnd().split('\n');
      assert.deepEqual(
        docker.map((l) => l.split(' ').slice(0, 2).join(' ')),
        ['docker login', 'docker tag', 'docker push'],
      );
      assert.equal(docker[0], `docker login ${b.host}`);
      const others = (await copiedText(page, '.howto pre:nth-of-type(2)')).trimEnd().split('\n');
      assert.deepEqual(
        others.map((l) => l.split(' ')[0]),
        ['podman', 'podman', 'skopeo'],
      );
    });

    it('shows a job log one entry per line', async () => {
      b.services.jobs.register({
        name: 'text-demo',
        maxAttempts: 1,
        timeoutMs: 30_000,
        concurrency: 1,
        async run(ctx) {
          for (const l of ['first line', 'second line', 'third line']) await ctx.log('scan_not_applicable_reason', { reason: l });
        },
      });
      const { id } = await b.services.jobs.enqueueStored('text-demo', {});
      await eventually(async () => (await b.services.jobs.get(id))?.status === 'success');
      await page.goto(`${b.url}/jobs/${id}`);
      await page.screenshot({ path: shot(`text-joblog-${dialect}`), fullPage: true });
      const lines = (await copiedText(page, 'pre.log')).trimEnd().split('\n');
      const mine = lines.filter((l) => /(first|second|third) line/.test(l));
      assert.equal(mine.length, 3, lines.join(' | '));
      assert.ok(mine[0]!.includes('first') && mine[2]!.includes('third'));
    });
  });
}
