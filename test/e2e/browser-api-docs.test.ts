import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { OPERATIONS } from '../../src/routes/api/v1/openapi.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, shot } from '../helpers/browser.js';
import { listen } from '../helpers/server.js';

// The API description is browsable from Berth itself: Swagger UI from the npm package, under the app's CSP.
describe('browser: API docs page', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  before(async () => {
    t = await startTestApp('sqlite');
    server = await listen(t);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await t?.close({ drop: true });
  });

  it('lists every documented operation, loads nothing from elsewhere, breaks no CSP rule', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('request', (r) => !r.url().startsWith(server.url) && !r.url().startsWith('data:') && foreign.push(r.url()));
    await page.goto(`${server.url}/api/docs`);
    await page.waitForSelector('.opblock', { timeout: 20_000 });
    await page.screenshot({ path: shot('api-docs'), fullPage: false });
    assert.equal(await page.locator('.opblock').count(), OPERATIONS.length);
    assert.deepEqual(foreign, []);
    assert.deepEqual(
      problems.filter((p) => /Content Security Policy/.test(p)),
      [],
    );
    assert.equal((await t.req('/api/docs/assets/..%2fpackage.json')).status, 404);
    assert.equal((await t.req('/api/docs/assets/index.html')).status, 404, 'only the listed files');
  });
});
