import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { replaceUserGroups } from '../../src/db/repos/groups.js';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * A user in tens of thousands of projects (an organisation mapping every team to a directory group) sees exactly the
 * public projects and their own on every list that filters by visibility: the project list, the dashboard's totals
 * and the security hub. Their memberships are asked of the database inside those queries, never read whole: more
 * than SQLite takes as parameters of one statement (32 766) makes a list of ids impossible to send at all.
 */
const MEMBER = 33_000;

for (const dialect of testDialects()) {
  describe(`visibility with many memberships [${dialect}]`, () => {
    let t: TestApp;
    let dora: [string, string];
    const TEAM = 'cn=all-teams,ou=groups,dc=example,dc=org';
    const name = (prefix: string, i: number) => `${prefix}-${String(i).padStart(5, '0')}`;

    before(async () => {
      t = await startTestApp(dialect);
      dora = await createUser(t, 'dora');
      const doraId = (await t.services.accounts.getUserByName('dora'))!.id;
      const now = Date.now();
      const row = (n: string, pub: boolean) => ({
        name: n,
        public: pub ? 1 : 0,
        owner_id: null,
        auto_scan: 0,
        prevent_vulnerable: 0,
        severity: 'critical',
        cve_allowlist: '[]',
        immutable_tags: '[]',
        quota_bytes: null,
        unscanned_policy: 'block',
        cve_allowlist_expires_at: null,
        created_at: now,
        updated_at: now,
      });
      const all = [...Array.from({ length: MEMBER }, (_, i) => row(name('m', i), false)), row('x-hidden', false), row('x-public', true)];
      for (let i = 0; i < all.length; i += 1000)
        await t.db
          .insertInto('projects')
          .values(all.slice(i, i + 1000))
          .execute();
      const ids = await t.db.selectFrom('projects').select(['id', 'name']).where('name', 'like', 'm-%').orderBy('name').execute();
      assert.equal(ids.length, MEMBER);
      // even ones directly (guest), odd ones through the group (developer)
      const direct = ids.filter((_, i) => i % 2 === 0).map((p) => ({ project_id: p.id, user_id: doraId, role_id: 2, created_at: now }));
      const viaGroup = ids.filter((_, i) => i % 2 === 1).map((p) => ({ project_id: p.id, group_name: TEAM, role_id: 2, created_at: now }));
      for (let i = 0; i < direct.length; i += 1000)
        await t.db
          .insertInto('project_members')
          .values(direct.slice(i, i + 1000))
          .execute();
      for (let i = 0; i < viaGroup.length; i += 1000)
        await t.db
          .insertInto('project_group_members')
          .values(viaGroup.slice(i, i + 1000))
          .execute();
      await replaceUserGroups(t.db, doraId, [TEAM], now);
    });
    after(async () => t?.close({ drop: true }));

    it('the project list holds every project of theirs (direct and through a group) and the public ones, nothing else', async () => {
      const list = async (q: string) => {
        const res = await t.req(`/api/v1/projects?q=${encodeURIComponent(q)}&limit=100`, { auth: dora });
        assert.equal(res.status, 200, await res.clone().text());
        return (await res.json()) as { items: { name: string }[]; total: number | null };
      };
      assert.deepEqual(
        (await list('x-')).items.map((p) => p.name),
        ['x-public'],
      );
      // m-3276x: ten projects, five direct and five through the group
      assert.deepEqual(
        (await list('m-3276')).items.map((p) => p.name),
        Array.from({ length: 10 }, (_, i) => name('m', 32760 + i)),
      );
      const first = await list('');
      assert.equal(first.items.length, 100);
      assert.deepEqual(
        first.items.slice(0, 3).map((p) => p.name),
        [name('m', 0), name('m', 1), name('m', 2)],
      );
      // the admin sees the hidden one too
      const admin = await (await t.req('/api/v1/projects?q=x-', { auth: ADMIN })).json();
      assert.deepEqual(
        admin.items.map((p: { name: string }) => p.name),
        ['x-hidden', 'x-public'],
      );
    });

    it('the dashboard and the security hub answer for them', async () => {
      const b = new Browser(t);
      await b.login(...dora);
      assert.equal((await b.fetch('/')).status, 200);
      const summary = await t.req('/api/v1/vulnerabilities/summary', { auth: dora });
      assert.equal(summary.status, 200, await summary.clone().text());
      const search = await t.req('/api/v1/vulnerabilities?severity=low', { auth: dora });
      assert.equal(search.status, 200, await search.clone().text());
    });
  });
}
