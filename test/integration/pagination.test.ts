import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureRepository, setTag, upsertArtifact } from '../../src/db/repos/artifacts.js';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import type { Envelope } from '../helpers/pages.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

const digestOf = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;
const facts = (pushedAt: number) => manifestFacts({ manifestSize: 500, size: 1000, os: 'linux', architecture: 'amd64', pushedAt, pushedBy: 'admin', type: 'image' });

for (const dialect of testDialects()) {
  describe(`list pagination [${dialect}]`, () => {
    let t: TestApp;
    let repoId: number;
    const ART = '/api/v1/projects/pg/repositories/app/artifacts';

    const get = async <T>(path: string, auth: [string, string] = ADMIN): Promise<Envelope<T>> => {
      const res = await t.req(path, { auth });
      assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
      return (await res.json()) as Envelope<T>;
    };

    /** Every page of a list by next_cursor; then back by prev_cursor from the last page. */
    async function walk<T>(path: string, limit: number, onPage?: (n: number) => Promise<void>): Promise<{ forward: T[]; backward: T[]; pages: number }> {
      const sep = path.includes('?') ? '&' : '?';
      const forward: T[] = [];
      let page = await get<T>(`${path}${sep}limit=${limit}`);
      assert.equal(page.prev_cursor, null, 'the first page has no previous page');
      let pages = 1;
      forward.push(...page.items);
      while (page.next_cursor) {
        await onPage?.(pages);
        page = await get<T>(`${path}${sep}limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`);
        assert.ok(page.items.length > 0 && page.items.length <= limit);
        forward.push(...page.items);
        pages++;
        assert.ok(pages < 1000, 'the walk ends');
      }
      const backward: T[] = [...page.items];
      while (page.prev_cursor) {
        page = await get<T>(`${path}${sep}limit=${limit}&cursor=${encodeURIComponent(page.prev_cursor)}`);
        backward.unshift(...page.items);
      }
      return { forward, backward, pages };
    }

    before(async () => {
      t = await startTestApp(dialect);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pg' } });
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'other' } });
      const project = await projectId(t.db, 'pg');
      repoId = await ensureRepository(t.db, project, 'pg/app', Date.now());
      const other = await ensureRepository(t.db, project, 'pg/other', Date.now());
      // 53 artifacts, pushed in bursts that share a timestamp: the id tiebreaker decides their order.
      for (let i = 0; i < 53; i++) {
        const id = await upsertArtifact(t.db, repoId, digestOf(i), facts(1_700_000_000_000 + Math.floor(i / 4) * 1000));
        for (let k = 0; k < 2; k++) await setTag(t.db, repoId, id, `v${i}-${k}`, 1_700_000_000_000 + i);
      }
      await upsertArtifact(t.db, other, digestOf(999), facts(1_700_000_000_000));
      for (let i = 0; i < 13; i++) await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: `proj${String(i).padStart(2, '0')}` } });
      for (let i = 0; i < 9; i++) await createUser(t, `user${i}`);
      for (let i = 0; i < 7; i++) await t.req('/api/v1/projects/pg/members', { method: 'POST', auth: ADMIN, json: { username: `user${i}`, role: 'guest' } });
      for (let i = 0; i < 12; i++) await ensureRepository(t.db, project, `pg/repo${String(i).padStart(2, '0')}`, Date.now());
    });
    after(async () => t?.close({ drop: true }));

    it('walks a repository’s artifacts by cursor: every row once, newest push first, id breaking ties; back again by prev_cursor', async () => {
      const rows = await t.db.selectFrom('artifacts').select(['id', 'digest', 'pushed_at']).where('repository_id', '=', repoId).execute();
      const expected = rows.sort((a, b) => Number(b.pushed_at) - Number(a.pushed_at) || Number(b.id) - Number(a.id)).map((r) => r.digest);
      const { forward, backward, pages } = await walk<{ digest: string }>(ART, 5);
      assert.deepEqual(
        forward.map((a) => a.digest),
        expected,
      );
      assert.deepEqual(
        backward.map((a) => a.digest),
        expected,
      );
      assert.equal(pages, Math.ceil(expected.length / 5));
      const first = await get<unknown>(`${ART}?limit=5`);
      assert.equal(first.total, 53);
      const res = await t.req(`${ART}?limit=5`, { auth: ADMIN });
      assert.equal(res.headers.get('x-total-count'), '53');
    });

    it('pushes during a walk neither repeat nor skip the rows that were there', async () => {
      const before = new Set((await t.db.selectFrom('artifacts').select('digest').where('repository_id', '=', repoId).execute()).map((r) => r.digest));
      let n = 1000;
      const { forward } = await walk<{ digest: string }>(ART, 6, async (page) => {
        // A newer push (lands before the cursor), an older one (lands ahead of it), and one with a tied timestamp.
        await upsertArtifact(t.db, repoId, digestOf(n++), facts(1_800_000_000_000 + page));
        await upsertArtifact(t.db, repoId, digestOf(n++), facts(1_600_000_000_000 - page));
        await upsertArtifact(t.db, repoId, digestOf(n++), facts(1_700_000_000_000 + 4000));
      });
      const seen = forward.map((a) => a.digest);
      assert.equal(new Set(seen).size, seen.length, 'no row twice');
      for (const d of before) assert.ok(seen.includes(d), `${d} was listed`);
      // Older pushes sort after the cursor's position and are all reached.
      for (let i = 1001; i < n; i += 3) assert.ok(seen.includes(digestOf(i)), `older push ${digestOf(i)} listed`);
    });

    it('walks tags, projects, repositories, users, members and the audit log in their orders', async () => {
      const tags = await walk<{ name: string }>('/api/v1/projects/pg/repositories/app/tags', 7);
      // Last pushed first, as Harbor lists them; id breaks ties.
      const tagNames = (await t.db.selectFrom('tags').select(['name', 'id', 'pushed_at']).where('repository_id', '=', repoId).execute()).sort(
        (a, b) => Number(b.pushed_at) - Number(a.pushed_at) || Number(b.id) - Number(a.id),
      );
      assert.deepEqual(
        tags.forward.map((x) => x.name),
        tagNames.map((x) => x.name),
      );
      assert.deepEqual(tags.backward, tags.forward);

      const projects = await walk<{ name: string }>('/api/v1/projects', 4);
      const names = projects.forward.map((p) => p.name);
      assert.deepEqual(names, [...names].sort());
      assert.equal(new Set(names).size, 15);
      assert.deepEqual(projects.backward, projects.forward);

      const repos = await walk<{ name: string }>('/api/v1/projects/pg/repositories', 5);
      assert.equal(repos.forward.length, 14);
      assert.deepEqual(
        repos.forward.map((r) => r.name),
        repos.forward.map((r) => r.name).sort(),
      );

      const users = await walk<{ username: string }>('/api/v1/users', 3);
      assert.deepEqual(
        users.forward.map((u) => u.username),
        ['admin', ...Array.from({ length: 9 }, (_, i) => `user${i}`)],
      );

      const members = await walk<{ username: string }>('/api/v1/projects/pg/members', 3);
      assert.deepEqual(
        members.forward.map((m) => m.username),
        ['admin', ...Array.from({ length: 7 }, (_, i) => `user${i}`)].sort(),
      );
      assert.deepEqual(members.backward, members.forward);

      const audit = await walk<{ id: number }>('/api/v1/audit-logs', 4);
      const ids = audit.forward.map((e) => e.id);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
      );
      const count = await t.db
        .selectFrom('audit_logs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(ids.length, Number(count.n));
    });

    it('keeps page for shallow pages and refuses deep ones with a pointer to cursors', async () => {
      const p2 = await get<{ name: string }>('/api/v1/projects?limit=4&page=2');
      assert.equal(p2.page, 2);
      const byCursor = await get<{ name: string }>(`/api/v1/projects?limit=4&cursor=${encodeURIComponent((await get<unknown>('/api/v1/projects?limit=4')).next_cursor!)}`);
      assert.deepEqual(p2.items, byCursor.items);
      const deep = await t.req(`${ART}?limit=50&page=300`, { auth: ADMIN });
      assert.equal(deep.status, 400);
      assert.match((await deep.json()).errors[0].message, /next_cursor/);
      assert.equal((await t.req(`${ART}?limit=50&page=21`, { auth: ADMIN })).status, 200);
    });

    it('refuses altered, foreign and malformed cursors and bad limits with 400', async () => {
      const first = await get<unknown>(`${ART}?limit=5`);
      const cursor = first.next_cursor!;
      const [body, sig] = cursor.split('.') as [string, string];
      const decoded = JSON.parse(Buffer.from(body, 'base64url').toString()) as unknown[];
      // The same position with the key moved (an id changed) under the old signature.
      const moved = [...decoded];
      moved[moved.length - 1] = 1;
      const otherList = (await get<unknown>('/api/v1/projects?limit=2')).next_cursor!;
      const otherRepo = `/api/v1/projects/pg/repositories/other/artifacts`;
      const bad = [
        'x',
        `${body}.${sig.slice(0, -2)}AA`,
        `${Buffer.from(JSON.stringify(moved)).toString('base64url')}.${sig}`,
        `${Buffer.from(JSON.stringify(["artifacts|pg|app' or 1=1 --", 'n', 1, 1])).toString('base64url')}.${sig}`,
        otherList,
        cursor.repeat(40),
        `${body}.${sig}.x`,
        '',
      ];
      for (const c of bad.filter(Boolean)) {
        const res = await t.req(`${ART}?limit=5&cursor=${encodeURIComponent(c)}`, { auth: ADMIN });
        assert.equal(res.status, 400, c.slice(0, 80));
        assert.equal((await res.json()).errors[0].code, 'BAD_REQUEST');
      }
      // A cursor of one repository's list is no cursor for another's.
      assert.equal((await t.req(`${otherRepo}?limit=5&cursor=${encodeURIComponent(cursor)}`, { auth: ADMIN })).status, 400);
      // The users list's cursor is bound to its search.
      const users = (await get<unknown>('/api/v1/users?limit=2&q=user')).next_cursor!;
      assert.equal((await t.req(`/api/v1/users?limit=2&cursor=${encodeURIComponent(users)}`, { auth: ADMIN })).status, 400);
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'page=0', 'page=-1', `page=2&cursor=${encodeURIComponent(cursor)}`]) {
        assert.equal((await t.req(`${ART}?${q}`, { auth: ADMIN })).status, 400, q);
      }
    });

    it('a cursor does not widen what a caller may see', async () => {
      const guest = await createUser(t, 'pager-guest');
      const admins = (await get<unknown>('/api/v1/projects?limit=2')).next_cursor!;
      // The guest sees no private project: the admin's cursor (same list, same filters) still yields only visible rows.
      const res = await t.req(`/api/v1/projects?limit=2&cursor=${encodeURIComponent(admins)}`, { auth: guest });
      assert.equal(res.status, 200);
      assert.deepEqual((await res.json()).items, []);
      // A private project's lists stay hidden (404), cursor or not.
      assert.equal((await t.req(`${ART}?limit=5`, { auth: guest })).status, 404);
      const artCursor = (await get<unknown>(`${ART}?limit=5`)).next_cursor!;
      assert.equal((await t.req(`${ART}?limit=5&cursor=${encodeURIComponent(artCursor)}`, { auth: guest })).status, 404);
    });

    it('the UI pages move by cursor links without JavaScript', async () => {
      const b = new Browser(t);
      await b.login(ADMIN[0], ADMIN[1]);
      const seen: string[] = [];
      let url: string | null = '/projects?limit=4';
      let hops = 0;
      while (url) {
        const html = await (await b.fetch(url)).text();
        for (const m of html.matchAll(/<td><a href="\/projects\/([^"]+)">/g)) seen.push(m[1]!);
        url = /<a href="([^"]+)" rel="next">/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;
        if (url) assert.match(url, /cursor=/);
        assert.ok(++hops < 50);
      }
      assert.equal(seen.length, 15);
      assert.equal(new Set(seen).size, 15);
      // The repository page (artifacts) pages by cursor too, and a bad cursor is the UI's 400 page.
      const repoPage = await (await b.fetch('/projects/pg/repositories/app?limit=5')).text();
      const next = /<a href="([^"]+)" rel="next">/.exec(repoPage)?.[1]?.replace(/&amp;/g, '&');
      assert.ok(next?.includes('cursor='));
      const second = await b.fetch(next!);
      assert.equal(second.status, 200);
      assert.match(await second.text(), /rel="prev"/);
      assert.equal((await b.fetch('/projects/pg/repositories/app?cursor=bogus.bogus')).status, 400);
    });
  });
}
