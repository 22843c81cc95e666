import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, ADMIN_PASSWORD } from '../helpers/app.js';
import { launchChromium, shot, signIn } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { buildImage, eventually, inspectDigest, push, run, startInstance, type Instance } from '../helpers/registry.js';

const XSS = '<script>alert(1)</script>';

for (const dialect of testDialects()) {
  describe(`browser: repositories, artifacts, robots, access log [${dialect}]`, () => {
    let b: Instance;
    let browser: Browser;
    let page: Page;
    let digest: string;
    const errors: string[] = [];

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'web' } });
      // Hostile data inside the image: a label and a file name that would run script if rendered raw.
      const ref = await buildImage({ 'etc/x': 'y' }, 'v1');
      const layout = ref.slice('oci:'.length, ref.lastIndexOf(':'));
      await run('umoci', ['config', '--image', `${layout}:v1`, '--config.label', `evil=${XSS}`, '--config.cmd', `/bin/echo ${XSS}`]);
      await push(ref, `docker://${b.host}/web/app:v1`, ADMIN);
      digest = await inspectDigest(`docker://${b.host}/web/app:v1`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/web/repositories/app/artifacts/v1', { auth: ADMIN })).status === 200);
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('dialog', (d) => {
        errors.push(`unexpected dialog: ${d.message()}`);
        void d.dismiss();
      });
      await signIn(page, b.url, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
    });

    it('follows plain links from the project list to a repository and an artifact', async () => {
      await page.goto(`${b.url}/projects`);
      await page.click('a[href="/projects/web"]');
      await page.waitForURL(`${b.url}/projects/web`);
      assert.match((await page.textContent('.howto')) ?? '', new RegExp(`docker push ${b.host}/web/REPOSITORY`));
      await page.screenshot({ path: shot(`project-repositories-${dialect}`), fullPage: true });
      await page.click('a[href="/projects/web/repositories/app"]');
      await page.waitForURL(`${b.url}/projects/web/repositories/app`);
      assert.match((await page.textContent('table.grid')) ?? '', /v1/);
      await page.click(`a[href="/projects/web/repositories/app/artifacts/${digest}"]`);
      await page.waitForURL(`${b.url}/projects/web/repositories/app/artifacts/${digest}`);
      const text = (await page.textContent('main')) ?? '';
      assert.ok(text.includes(digest));
      assert.ok(text.includes(XSS), 'the hostile label is shown as text');
      assert.equal(await page.locator('main script').count(), 0);
      assert.match(text, /application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/);
      await page.screenshot({ path: shot(`artifact-${dialect}`), fullPage: true });
      assert.deepEqual(errors, []);
    });

    it('creates a robot account and shows its secret once', async () => {
      // The project's Robot accounts tab, inside the project page.
      await page.goto(`${b.url}/projects/web`);
      await Promise.all([page.waitForEvent('load'), page.click('nav.tabs a[href="/projects/web/robots"]')]);
      assert.equal(new URL(page.url()).pathname, '/projects/web/robots');
      assert.equal(await page.getAttribute('nav.tabs a[href="/projects/web/robots"]', 'aria-current'), 'page');
      assert.match((await page.textContent('.pagehead h1')) ?? '', /Projects \/ web/);
      await page.fill('input[name=name]', 'ci');
      await page.check('input[name=push]');
      await page.click('form[action="/projects/web/robots"] button[type=submit]');
      await page.waitForSelector('.secret');
      const secret = ((await page.textContent('.secret pre code')) ?? '').trim();
      assert.ok(secret.length >= 40);
      await page.screenshot({ path: shot(`robot-created-${dialect}`), fullPage: true });
      const ok = await b.api('/api/v1/projects/web', { auth: ['robot$web+ci', secret] });
      assert.equal(ok.status, 200);
      await page.goto(`${b.url}/projects/web/robots`);
      assert.ok(!(await page.content()).includes(secret), 'not shown again');
    });

    it('lists the push in the access log', async () => {
      await page.goto(`${b.url}/access-log`);
      const text = (await page.textContent('table.grid')) ?? '';
      assert.match(text, /push/);
      assert.match(text, /web\/app:v1/);
      await page.screenshot({ path: shot(`access-log-${dialect}`), fullPage: true });
    });

    it('deletes a tag after confirmation, without JavaScript', async () => {
      const ctx = await browser.newContext({ javaScriptEnabled: false });
      const p = await ctx.newPage();
      await p.goto(`${b.url}/login`);
      await p.fill('input[name=username]', 'admin');
      await p.fill('input[name=password]', ADMIN_PASSWORD);
      await p.click('button[type=submit]');
      await p.goto(`${b.url}/projects/web/repositories/app/artifacts/${digest}`);
      await p.click('a:has-text("Delete tag")');
      assert.match((await p.textContent('main')) ?? '', /Delete tag web\/app:v1\?/);
      await p.click('button:has-text("Delete tag")');
      await p.waitForURL(`${b.url}/projects/web/repositories/app`);
      const tags = await (await b.api('/api/v1/projects/web/repositories/app/tags', { auth: ADMIN })).json();
      assert.deepEqual(tags.items, []);
      await ctx.close();
    });
  });
}
