import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * Every CVE allowlist takes the same advisory ids (src/registry/reference.ts's ADVISORY_ID): the project's over REST,
 * the system's over REST and on the settings page. The system ones once had a grammar of their own that refused
 * one-character and `+` ids a project allowlist took.
 */
const IDS: [id: string, ok: boolean][] = [
  ['CVE-2024-1234', true],
  ['GHSA-xxxx-yyyy-zzzz', true],
  ['ALPINE-CVE-2024-1', true],
  ['X', true],
  ['PYSEC-2024+1', true],
  ['-CVE-2024-1', false],
  ['CVE 2024', false],
  ['<script>', false],
  ['A'.repeat(129), false],
];

for (const dialect of testDialects()) {
  describe(`CVE allowlists take one advisory id grammar [${dialect}]`, () => {
    let t: TestApp;
    let admin: Browser;
    before(async () => {
      t = await startTestApp(dialect);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'allow' } })).status, 201);
      admin = new Browser(t);
      await admin.login('admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await t?.close({ drop: true });
    });

    for (const [id, ok] of IDS) {
      it(`${JSON.stringify(id.slice(0, 20))} is ${ok ? 'taken' : 'refused'} by the project and system allowlists, REST and UI`, async () => {
        const project = await t.req('/api/v1/projects/allow', { method: 'PUT', auth: ADMIN, json: { cve_allowlist: [id] } });
        assert.equal(project.status, ok ? 200 : 400, 'project, REST');
        const system = await t.req('/api/v1/system/cve-allowlist', { method: 'PUT', auth: ADMIN, json: { items: [id] } });
        assert.equal(system.status, ok ? 200 : 400, 'system, REST');
        const form = await admin.post('/settings/cve-allowlist', { _csrf: await admin.csrf(), items: id, expires: '' });
        assert.equal(form.status, ok ? 303 : 422, 'system, settings page');
        if (!ok) assert.match(await form.text(), /not an advisory or CVE id/);
        const stored = (await (await t.req('/api/v1/system/cve-allowlist', { auth: ADMIN })).json()) as { items: string[] };
        assert.deepEqual(stored.items, ok ? [id.toUpperCase()] : stored.items.filter((x) => x !== id.toUpperCase()));
      });
    }

    it('the settings page refuses more than 1000 ids and a malformed expiry, and keeps what was there', async () => {
      const many = Array.from({ length: 1001 }, (_, i) => `CVE-2024-${i}`).join('\n');
      const tooMany = await admin.post('/settings/cve-allowlist', { _csrf: await admin.csrf(), items: many, expires: '' });
      assert.equal(tooMany.status, 422);
      assert.match(await tooMany.text(), /at most 1000 entries/);
      const badDate = await admin.post('/settings/cve-allowlist', { _csrf: await admin.csrf(), items: 'CVE-2024-1', expires: 'tomorrow' });
      assert.equal(badDate.status, 400);
      const saved = await admin.post('/settings/cve-allowlist', { _csrf: await admin.csrf(), items: 'CVE-2024-1, CVE-2024-2', expires: '2030-01-01' });
      assert.equal(saved.status, 303);
      assert.deepEqual(((await (await t.req('/api/v1/system/cve-allowlist', { auth: ADMIN })).json()) as { items: string[] }).items, ['CVE-2024-1', 'CVE-2024-2']);
    });
  });
}
