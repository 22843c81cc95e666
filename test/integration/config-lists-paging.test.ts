import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { replaceUserGroups } from '../../src/db/repos/groups.js';
import { insertJob } from '../../src/db/repos/jobs.js';
import { GARBAGE_COLLECTION } from '../../src/jobs/types/gc.js';
import { insertScannerRegistration } from '../../src/db/repos/scanners.js';
import { insertWebhookDelivery, insertWebhookPolicy } from '../../src/db/repos/webhooks.js';
import { MAX_WEBHOOK_POLICIES } from '../../src/services/webhook-service.js';
import { ADMIN, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { type Envelope, nextLink, prevLink } from '../helpers/pages.js';

/**
 * The small configuration lists (webhook policies, schedules, scanner adapters, a user's groups) page like every other
 * list: `limit`/`cursor`, the `{items, limit, next_cursor, prev_cursor, total}` envelope, and UI pagers that are plain
 * links. Each list gets more rows than one small page holds, and the walk must return every row once, in order, both
 * ways.
 */

for (const dialect of testDialects()) {
  describe(`small configuration lists paginate [${dialect}]`, () => {
    let t: TestApp;
    let member: [string, string];
    let memberId: number;
    const GROUPS = ['ops', 'Alpha', 'beta', 'gamma-team', 'delta', 'zeta', 'eta', 'theta', 'iota'];
    const retentionProjects = Array.from({ length: 7 }, (_, i) => `ret${i}`);

    const get = async <T>(path: string, auth: [string, string] = ADMIN): Promise<Envelope<T>> => {
      const res = await t.req(path, { auth });
      assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
      return (await res.json()) as Envelope<T>;
    };

    /** Every page by next_cursor, then back by prev_cursor from the last page. */
    async function walk<T>(path: string, limit: number, auth: [string, string] = ADMIN): Promise<{ forward: T[]; backward: T[]; pages: number }> {
      const forward: T[] = [];
      let page = await get<T>(`${path}?limit=${limit}`, auth);
      assert.equal(page.limit, limit);
      assert.equal(page.prev_cursor, null, `${path}: the first page has no previous page`);
      forward.push(...page.items);
      let pages = 1;
      while (page.next_cursor) {
        page = await get<T>(`${path}?limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`, auth);
        assert.ok(page.items.length > 0 && page.items.length <= limit, `${path}: page ${pages + 1} has 1..${limit} rows`);
        forward.push(...page.items);
        assert.ok(++pages < 100, 'the walk ends');
      }
      const backward: T[] = [...page.items];
      while (page.prev_cursor) {
        page = await get<T>(`${path}?limit=${limit}&cursor=${encodeURIComponent(page.prev_cursor)}`, auth);
        backward.unshift(...page.items);
      }
      return { forward, backward, pages };
    }

    before(async () => {
      t = await startTestApp(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' });
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'hooks' } })).status, 201);
      for (let i = 0; i < 11; i++) {
        const res = await t.req('/api/v1/projects/hooks/webhooks', { method: 'POST', auth: ADMIN, json: { url: `http://127.0.0.1:9/hook-${i}`, event_types: ['PUSH_ARTIFACT'] } });
        assert.equal(res.status, 201, await res.clone().text());
      }
      // One retention schedule per project: the schedules list grows with the installation.
      for (const p of retentionProjects) {
        assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: p } })).status, 201);
        const res = await t.req(`/api/v1/projects/${p}/retention`, {
          method: 'PUT',
          auth: ADMIN,
          json: { rules: [{ repositories: '**', tags: '**', retain: { kind: 'latest_pushed', count: 3 } }], schedule: '0 3 * * *' },
        });
        assert.equal(res.status, 200, await res.clone().text());
      }
      // Adapters are registered through POST /scanners only after their metadata answers; the rows are what the list reads.
      for (let i = 0; i < 6; i++) await insertScannerRegistration(t.db, { name: `adapter-${String.fromCharCode(102 - i)}`, url: `http://127.0.0.1:9/a${i}`, authorization: null, now: Date.now() });
      member = await createUser(t, 'grouped');
      memberId = Number((await t.db.selectFrom('users').select('id').where('username', '=', 'grouped').executeTakeFirstOrThrow()).id);
      await replaceUserGroups(t.db, memberId, GROUPS, Date.now());
    });
    after(async () => t?.close({ drop: true }));

    it('walks webhook policies oldest first, every policy once, back again by prev_cursor', async () => {
      const all = (await t.db.selectFrom('webhook_policies').select(['id', 'url']).orderBy('id').execute()).map((r) => Number(r.id));
      assert.equal(all.length, 11);
      const { forward, backward, pages } = await walk<{ id: number; url: string }>('/api/v1/projects/hooks/webhooks', 3);
      assert.deepEqual(
        forward.map((w) => w.id),
        all,
      );
      assert.deepEqual(backward, forward);
      assert.equal(pages, 4);
      const first = await get<unknown>('/api/v1/projects/hooks/webhooks?limit=3');
      assert.equal(first.total, 11);
      // Without limit: the default page holds them all (existing clients keep working), in the same envelope.
      const whole = await get<{ id: number }>('/api/v1/projects/hooks/webhooks');
      assert.equal(whole.items.length, 11);
      assert.equal(whole.next_cursor, null);
      assert.equal(whole.limit, 100);
    });

    it('bounds a project’s webhook policies where they are made, since every event goes to each of them', async () => {
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'many-hooks' } })).status, 201);
      const project = Number((await t.db.selectFrom('projects').select('id').where('name', '=', 'many-hooks').executeTakeFirstOrThrow()).id);
      const input = { name: 'h', url: 'http://127.0.0.1:9/h', format: 'default' as const, eventTypes: ['PUSH_ARTIFACT'], authHeader: null, secret: null, skipTlsVerify: false, enabled: true };
      for (let i = 0; i < MAX_WEBHOOK_POLICIES - 1; i++) await insertWebhookPolicy(t.db, project, input, 'admin', Date.now());
      const json = { url: 'http://127.0.0.1:9/last', event_types: ['PUSH_ARTIFACT'] };
      assert.equal((await t.req('/api/v1/projects/many-hooks/webhooks', { method: 'POST', auth: ADMIN, json })).status, 201);
      const over = await t.req('/api/v1/projects/many-hooks/webhooks', { method: 'POST', auth: ADMIN, json });
      assert.equal(over.status, 409);
      assert.match((await over.json()).errors[0].message, /delete one first/);
      // The list still pages through all of them.
      const { forward } = await walk<{ id: number }>('/api/v1/projects/many-hooks/webhooks', 100);
      assert.equal(forward.length, MAX_WEBHOOK_POLICIES);
    });

    it('walks schedules by name (one per retention policy here)', async () => {
      const names = (await t.db.selectFrom('schedules').select('name').execute()).map((r) => r.name);
      assert.ok(names.length >= retentionProjects.length, `a schedule per retention policy: ${names.join(', ')}`);
      const { forward, backward, pages } = await walk<{ name: string }>('/api/v1/schedules', 2);
      const seen = forward.map((s) => s.name);
      assert.equal(new Set(seen).size, seen.length, 'no schedule twice');
      assert.deepEqual([...seen].sort(), [...names].sort(), 'every schedule');
      // The database's order (its collation) decides; the API follows it page after page.
      const ordered = (await t.db.selectFrom('schedules').select('name').orderBy('name').execute()).map((r) => r.name);
      assert.deepEqual(seen, ordered);
      assert.deepEqual(backward, forward);
      assert.equal(pages, Math.ceil(names.length / 2));
    });

    it('walks scanner adapters by name, and a cursor of one list is no cursor for another', async () => {
      const { forward, backward } = await walk<{ name: string; url?: string | null }>('/api/v1/scanners', 4);
      assert.deepEqual(
        forward.map((s) => s.name),
        ['adapter-a', 'adapter-b', 'adapter-c', 'adapter-d', 'adapter-e', 'adapter-f'],
      );
      assert.deepEqual(backward, forward);
      const schedulesCursor = (await get<unknown>('/api/v1/schedules?limit=2')).next_cursor!;
      const res = await t.req(`/api/v1/scanners?limit=2&cursor=${encodeURIComponent(schedulesCursor)}`, { auth: ADMIN });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).errors[0].code, 'BAD_REQUEST');
      for (const q of ['limit=0', 'limit=101', 'cursor=bogus', 'page=2&cursor=x.y']) {
        for (const path of ['/api/v1/scanners', '/api/v1/schedules', '/api/v1/projects/hooks/webhooks', '/api/v1/users/current/groups']) {
          assert.equal((await t.req(`${path}?${q}`, { auth: ADMIN })).status, 400, `${path}?${q}`);
        }
      }
    });

    it('walks the signed-in user’s groups; another user’s cursor does not open them', async () => {
      const { forward, backward } = await walk<string>('/api/v1/users/current/groups', 4, member);
      const ordered = (await t.db.selectFrom('user_groups').select('group_name').where('user_id', '=', memberId).orderBy('group_name').execute()).map((r) => r.group_name);
      assert.deepEqual(forward, ordered);
      assert.deepEqual([...forward].sort(), [...GROUPS].sort());
      assert.deepEqual(backward, forward);
      // The cursor is bound to the user whose list it came from.
      const cursor = (await get<string>('/api/v1/users/current/groups?limit=4', member)).next_cursor!;
      assert.equal((await t.req(`/api/v1/users/current/groups?limit=4&cursor=${encodeURIComponent(cursor)}`, { auth: ADMIN })).status, 400);
    });

    it('the webhooks, schedules and profile pages move by cursor links without JavaScript', async () => {
      const b = new Browser(t);
      await b.login(ADMIN[0], ADMIN[1]);

      // Webhooks tab: every policy once across the pages.
      const hooks: string[] = [];
      let url: string | null = '/projects/hooks/webhooks?limit=4';
      let hops = 0;
      while (url) {
        const res = await b.fetch(url);
        assert.equal(res.status, 200);
        const html = await res.text();
        for (const m of html.matchAll(/<tr id="webhook-(\d+)">/g)) hooks.push(m[1]!);
        url = nextLink(html);
        if (url) assert.match(url, /^\/projects\/hooks\/webhooks\?limit=4&cursor=/);
        assert.ok(++hops < 20);
      }
      assert.equal(hops, 3);
      assert.equal(hooks.length, 11);
      assert.equal(new Set(hooks).size, 11);

      // A policy's delivery log: newest first across the pages (it keeps about 500 rows, more than one page shows).
      const policyId = Number(hooks[0]);
      for (let i = 0; i < 8; i++) {
        await insertWebhookDelivery(t.db, {
          policyId,
          jobId: null,
          eventId: `evt-${i}`,
          eventType: 'PUSH_ARTIFACT',
          attempt: 1,
          statusCode: 200,
          latencyMs: 5,
          error: null,
          at: Date.now() + i,
        });
      }
      const events: string[] = [];
      url = `/projects/hooks/webhooks/${policyId}?limit=3`;
      hops = 0;
      while (url) {
        const html = await (await b.fetch(url)).text();
        for (const m of html.matchAll(/<span class="muted small mono">(evt-\d+)<\/span>/g)) events.push(m[1]!);
        url = nextLink(html);
        if (url) assert.match(url, new RegExp(`^/projects/hooks/webhooks/${policyId}\\?limit=3&cursor=`));
        assert.ok(++hops < 20);
      }
      assert.equal(hops, 3);
      assert.deepEqual(
        events,
        Array.from({ length: 8 }, (_, i) => `evt-${7 - i}`),
      );

      // Schedules: every schedule once, and a failed save (422) answers the same page with links to /schedules.
      const schedules: string[] = [];
      url = '/schedules?limit=3';
      let second: string | null = null;
      while (url) {
        const html = await (await b.fetch(url)).text();
        for (const m of html.matchAll(/<section class="card" id="schedule-([^"]+)">/g)) schedules.push(m[1]!);
        url = nextLink(html);
        second ??= url;
      }
      const names = (await t.db.selectFrom('schedules').select('name').orderBy('name').execute()).map((r) => r.name);
      assert.deepEqual(schedules, names);
      const page2 = await (await b.fetch(second!)).text();
      const action = /<form method="post" action="(\/schedules\/[^"]+)"/.exec(page2)![1]!.replace(/&amp;/g, '&');
      assert.match(action, /\?limit=3&cursor=/, 'the form keeps the page');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page2)![1]!;
      const failed = await b.post(action, { _csrf: csrf, cron: 'not cron', enabled: 'true' });
      assert.equal(failed.status, 422);
      const failedHtml = await failed.text();
      assert.match(failedHtml, /role="alert"/);
      assert.deepEqual(
        [...failedHtml.matchAll(/<section class="card" id="schedule-([^"]+)">/g)].map((m) => m[1]),
        names.slice(3, 6),
      );
      assert.match(prevLink(failedHtml) ?? '', /^\/schedules\?limit=3&cursor=/);

      // Garbage-collection history: every finished run, newest first (finished rows, so the runner leaves them alone).
      const now = Date.now();
      const gcIds: number[] = [];
      for (let i = 0; i < 7; i++) {
        gcIds.push(
          await insertJob(t.db, {
            type: GARBAGE_COLLECTION,
            status: 'success',
            priority: 0,
            unique_key: null,
            release_key: 0,
            payload: JSON.stringify({ dryRun: true }),
            attempt: 1,
            failures: 0,
            max_attempts: 1,
            run_at: now,
            lease_until: null,
            worker_id: null,
            stop_requested: 0,
            progress: 100,
            progress_text: null,
            error: null,
            result: JSON.stringify({ dryRun: true, blobsDeleted: i, bytesFreed: 0, durationMs: 10 }),
            hook_url: null,
            created_at: now,
            updated_at: now,
            started_at: now,
            finished_at: now,
          }),
        );
      }
      const gcSeen: number[] = [];
      url = '/gc?limit=3';
      hops = 0;
      while (url) {
        const html = await (await b.fetch(url)).text();
        for (const m of html.matchAll(/<tr><td><a href="\/jobs\/(\d+)">/g)) gcSeen.push(Number(m[1]));
        url = nextLink(html);
        if (url) assert.match(url, /^\/gc\?limit=3&cursor=/);
        assert.ok(++hops < 20);
      }
      assert.equal(hops, 3);
      assert.deepEqual(gcSeen, [...gcIds].reverse());

      // Profile: the user's groups.
      const m = new Browser(t);
      await m.login(member[0], member[1]);
      const groups: string[] = [];
      url = '/account/profile?limit=4';
      while (url) {
        const html = await (await m.fetch(url)).text();
        for (const g of html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)) groups.push(g[1]!);
        url = nextLink(html);
        if (url) assert.match(url, /^\/account\/profile\?limit=4&cursor=/);
      }
      assert.deepEqual([...groups].sort(), [...GROUPS].sort());
      assert.equal((await m.fetch('/account/profile?cursor=bogus.bogus')).status, 400);
    });
  });
}
