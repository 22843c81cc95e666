import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

// Until an advisory is loaded every scan finds nothing: the UI must say so on every page, or a result with no findings
// reads as clean (a newcomer's walkthrough found exactly that).
for (const dialect of testDialects())
  describe(`the empty advisory database is announced [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    it('on every page, with the way to update it for admins; gone once advisories are loaded', async () => {
      const admin = new Browser(t);
      await admin.login('admin', ADMIN_PASSWORD);
      const [name, password] = await createUser(t, 'reader1');
      const reader = new Browser(t);
      await reader.login(name, password);
      for (const path of ['/', '/projects', '/security']) {
        const html = await (await admin.fetch(path)).text();
        assert.match(html, /class="banner banner-advisories"[^>]*>No vulnerability advisories have been loaded yet/, `${path} (admin)`);
        assert.match(html, /<a href="\/vulndb">Update the vulnerability database<\/a>/, path);
      }
      const readerHtml = await (await reader.fetch('/projects')).text();
      assert.match(readerHtml, /No vulnerability advisories have been loaded yet/);
      assert.doesNotMatch(readerHtml, /href="\/vulndb">Update the vulnerability database/, 'only admins get the link');
      const imported = await t.req('/api/v1/vulndb/import', {
        method: 'POST',
        auth: ADMIN,
        json: [
          {
            id: 'OSV-NOTICE-1',
            modified: '2026-01-01T00:00:00Z',
            affected: [{ package: { ecosystem: 'Debian:12', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0' }] }] }],
          },
        ],
      });
      assert.equal(imported.status, 200, await imported.clone().text());
      for (const b of [admin, reader]) assert.doesNotMatch(await (await b.fetch('/projects')).text(), /banner-advisories/);
    });
  });
