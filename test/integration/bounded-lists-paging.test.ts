import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { TAG_RETENTION } from '../../src/services/retention-service.js';
import { testDialects } from '../helpers/db.js';
import { type Envelope, nextLink } from '../helpers/pages.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

/**
 * Lists that used to come whole (a project's retention runs, a run's decisions, an artifact's tags and referrers)
 * page like every other list: more rows than a page, walked by next_cursor (REST) and by the pager's plain links (UI),
 * must give every row exactly once.
 */

const digestOf = (i: number) => `sha256:${i.toString(16).padStart(4, '0')}${'a'.repeat(60)}`;

for (const dialect of testDialects()) {
  describe(`bounded lists page [${dialect}]`, () => {
    let t: TestApp;
    const RUNS = 12;
    const ARTIFACTS = 25;
    const KEEP = 2;
    let lastRun = 0;

    const get = async <T>(path: string): Promise<Envelope<T>> => {
      const res = await t.req(path, { auth: ADMIN });
      assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
      return (await res.json()) as Envelope<T>;
    };

    /** Every page by next_cursor; asserts page sizes and that the total (when given) matches. */
    async function walk<T>(path: string, limit: number): Promise<{ items: T[]; pages: number; first: Envelope<T> }> {
      const sep = path.includes('?') ? '&' : '?';
      let page = await get<T>(`${path}${sep}limit=${limit}`);
      const first = page;
      assert.equal(page.limit, limit);
      if (page.next_cursor) {
        // The Link header leads to the same next page as next_cursor.
        const link = (await t.req(`${path}${sep}limit=${limit}`, { auth: ADMIN })).headers.get('link') ?? '';
        const next = /<([^>]+)>; rel="next"/.exec(link)?.[1];
        assert.ok(next, `${path}: Link rel="next"`);
        assert.equal(new URL(next, 'http://x').searchParams.get('cursor'), page.next_cursor);
        assert.deepEqual(await get(next.replace(/^\/api\/v1/, '/api/v1')), await get(`${path}${sep}limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`));
      }
      assert.equal(page.prev_cursor, null);
      const items = [...page.items];
      let pages = 1;
      while (page.next_cursor) {
        assert.equal(page.items.length, limit, `${path}: a page before the last is full`);
        page = await get<T>(`${path}${sep}limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`);
        assert.ok(page.items.length > 0 && page.items.length <= limit);
        items.push(...page.items);
        assert.ok(++pages < 200, 'the walk ends');
      }
      return { items, pages, first };
    }

    /** Follows a UI page's rel=next links, collecting what `pick` reads from each page. */
    async function walkUi(b: Browser, path: string, pick: (html: string) => string[]): Promise<{ items: string[]; pages: number }> {
      const items: string[] = [];
      let url: string | null = path;
      let pages = 0;
      while (url) {
        const res = await b.fetch(url);
        assert.equal(res.status, 200, url);
        const html = await res.text();
        items.push(...pick(html));
        url = nextLink(html);
        assert.ok(++pages < 200, 'the walk ends');
      }
      return { items, pages };
    }

    async function waitForRun(id: number): Promise<void> {
      for (let i = 0; i < 500; i++) {
        const res = await t.req(`/api/v1/projects/ret/retention/runs/${id}`, { auth: ADMIN });
        assert.equal(res.status, 200);
        const run = (await res.json()) as { status: string };
        if (['success', 'error', 'stopped'].includes(run.status)) {
          assert.equal(run.status, 'success');
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail(`run ${id} did not finish`);
    }

    before(async () => {
      t = await startTestApp(dialect);
      for (const name of ['ret', 'other']) assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name } })).status, 201);
      const repo = await art.ensureRepository(t.db, await projectId(t.db, 'ret'), 'ret/app', Date.now());
      const now = Date.now();
      for (let i = 0; i < ARTIFACTS; i++) {
        const id = await art.upsertArtifact(t.db, repo, digestOf(i + 1), manifestFacts({ pushedAt: now - (ARTIFACTS - i) * 60_000 }));
        // The oldest artifact carries many tags: a run's decision keeps a preview and the count.
        const tags = i === 0 ? 15 : 1;
        for (let k = 0; k < tags; k++) await art.setTag(t.db, repo, id, `v${i}-${String(k).padStart(2, '0')}`, now);
      }
      for (const name of ['ret', 'other']) {
        const res = await t.req(`/api/v1/projects/${name}/retention`, {
          method: 'PUT',
          auth: ADMIN,
          json: { rules: [{ repositories: '**', tags: '**', untagged: true, retain: { kind: 'latest_pushed', count: KEEP } }] },
        });
        assert.equal(res.status, 200, await res.clone().text());
      }
      await t.services.jobs.start();
      for (let i = 0; i < RUNS; i++) {
        const res = await t.req('/api/v1/projects/ret/retention/run', { method: 'POST', auth: ADMIN, json: { dry_run: true } });
        assert.equal(res.status, 202, await res.clone().text());
        lastRun = ((await res.json()) as { id: number }).id;
        await waitForRun(lastRun);
        // Another project's runs in between must not show in this project's list (nor push its runs out of it).
        const other = await t.req('/api/v1/projects/other/retention/run', { method: 'POST', auth: ADMIN, json: { dry_run: true } });
        assert.equal(other.status, 202);
        await t.services.jobs.idle();
      }
    });
    after(async () => t?.close({ drop: true }));

    describe('an artifact with many tags and referrers', () => {
      const TAGS = 45;
      const REFERRERS = 30;
      const subject = `sha256:${'5'.repeat(64)}`;
      const a = '/api/v1/projects/ret/repositories/many';
      const tagNames = Array.from({ length: TAGS }, (_, i) => `t${String(i).padStart(3, '0')}`);
      // Push times in an order that is not the names' (17 is prime to 45: each offset once): tag lists show the last
      // pushed first, as Harbor does, and a list sorted by name would fail.
      const pushOffset = (i: number) => ((i * 17) % TAGS) * 1000;
      const tagsByPush = tagNames
        .map((name, i) => ({ name, off: pushOffset(i) }))
        .sort((x, y) => x.off - y.off)
        .map((x) => x.name);
      const referrerDigests = Array.from({ length: REFERRERS }, (_, i) => `sha256:${(0x9000 + i).toString(16)}${'b'.repeat(60)}`);

      before(async () => {
        const repo = await art.ensureRepository(t.db, await projectId(t.db, 'ret'), 'ret/many', Date.now());
        const now = Date.now();
        const id = await art.upsertArtifact(t.db, repo, subject, manifestFacts({ pushedAt: now, type: 'image' }));
        for (const [i, name] of tagNames.entries()) await art.setTag(t.db, repo, id, name, now - pushOffset(i));
        for (const [i, d] of referrerDigests.entries()) {
          const rid = await art.upsertArtifact(t.db, repo, d, manifestFacts({ pushedAt: now - 100_000 + i, type: 'signature', subject }));
          if (i === 0) for (let k = 0; k < 25; k++) await art.setTag(t.db, repo, rid, `sig-${String(k).padStart(2, '0')}`, now);
        }
      });

      it('REST: the artifact object embeds a bounded preview with counts; the rest page by cursor, each once', async () => {
        const detail = (await (await t.req(`${a}/artifacts/${subject}`, { auth: ADMIN })).json()) as {
          tags: { name: string }[];
          tag_count: number;
          referrers: { digest: string; tags: string[]; tag_count: number }[];
          referrer_count: number;
        };
        assert.equal(detail.tags.length, 20);
        assert.deepEqual(
          detail.tags.map((x) => x.name),
          tagsByPush.slice(0, 20),
        );
        assert.equal(detail.tag_count, TAGS);
        assert.equal(detail.referrers.length, 20);
        assert.equal(detail.referrer_count, REFERRERS);
        assert.deepEqual(
          detail.referrers.map((x) => x.digest),
          referrerDigests.slice(0, 20),
        );
        assert.equal(detail.referrers[0]!.tags.length, 20);
        assert.equal(detail.referrers[0]!.tag_count, 25);
        // By tag too, and in the artifact list.
        const byTag = (await (await t.req(`${a}/artifacts/t044`, { auth: ADMIN })).json()) as { tags: unknown[]; tag_count: number };
        assert.equal(byTag.tags.length, 20);
        assert.equal(byTag.tag_count, TAGS);
        const list = await get<{ digest: string; tags: unknown[]; tag_count: number }>(`${a}/artifacts?limit=100`);
        for (const x of list.items) assert.ok(x.tags.length <= 20 && x.tag_count >= x.tags.length);
        assert.equal(list.items.find((x) => x.digest === subject)!.tag_count, TAGS);

        const tags = await walk<{ name: string }>(`${a}/artifacts/${subject}/tags`, 10);
        assert.equal(tags.first.total, TAGS);
        assert.equal(tags.pages, Math.ceil(TAGS / 10));
        assert.deepEqual(
          tags.items.map((x) => x.name),
          tagsByPush,
        );
        const refs = await walk<{ digest: string }>(`${a}/artifacts/${subject}/referrers`, 7);
        assert.equal(refs.first.total, REFERRERS);
        assert.equal(refs.pages, Math.ceil(REFERRERS / 7));
        assert.deepEqual(
          refs.items.map((x) => x.digest),
          referrerDigests,
        );
        // A cursor is bound to its list: one from the tags list is refused by the referrers list.
        const page = await get<{ name: string }>(`${a}/artifacts/${subject}/tags?limit=10`);
        assert.equal((await t.req(`${a}/artifacts/${subject}/referrers?cursor=${encodeURIComponent(page.next_cursor!)}`, { auth: ADMIN })).status, 400);
        assert.equal((await t.req(`${a}/artifacts/${subject}/tags?limit=1001`, { auth: ADMIN })).status, 400);
        assert.equal((await t.req(`${a}/artifacts/sha256:${'0'.repeat(64)}/tags`, { auth: ADMIN })).status, 404);
      });

      it('UI: the artifact page links to its tags and referrers, which page by plain links, each once', async () => {
        const b = new Browser(t);
        await b.login(...ADMIN);
        const base = `/projects/ret/repositories/many/artifacts/${subject}`;
        const html = await (await b.fetch(base)).text();
        assert.match(html, new RegExp(`href="${base}/tags" id="all-tags"`));
        assert.match(html, new RegExp(`href="${base}/referrers" id="all-referrers"`));
        assert.ok(!html.includes('t044'), 'the artifact page shows a preview, not every tag');
        const tags = await walkUi(b, `${base}/tags?limit=10`, (h) => [...h.matchAll(/<td class="tag">([^<]+)<\/td>/g)].map((m) => m[1]!));
        assert.deepEqual(tags.items, tagsByPush);
        assert.equal(tags.pages, Math.ceil(TAGS / 10));
        const refs = await walkUi(b, `${base}/referrers?limit=7`, (h) => [...h.matchAll(/<tr class="referrer"><td><a class="mono" href="[^"]+\/artifacts\/(sha256:[0-9a-f]+)"/g)].map((m) => m[1]!));
        assert.deepEqual(refs.items, referrerDigests);
        // The repository page nests a preview of the referrers under their subject, with a link to the rest.
        const repoPage = await (await b.fetch('/projects/ret/repositories/many')).text();
        assert.equal((repoPage.match(/<tr class="referrer"/g) ?? []).length, 20);
        assert.match(repoPage, new RegExp(`href="${base}/referrers"`));
      });
    });

    it('REST: a project’s runs page newest first, each once, with a total', async () => {
      const { items, pages, first } = await walk<{ id: number; dry_run: boolean; deleted_count: number; total: number }>('/api/v1/projects/ret/retention/runs', 5);
      assert.equal(first.total, RUNS);
      assert.equal(pages, Math.ceil(RUNS / 5));
      assert.equal(items.length, RUNS);
      assert.equal(new Set(items.map((r) => r.id)).size, RUNS);
      assert.deepEqual(
        items.map((r) => r.id),
        [...items.map((r) => r.id)].sort((a, b) => b - a),
      );
      assert.equal(items[0]!.id, lastRun);
      for (const r of items) {
        assert.equal(r.dry_run, true);
        assert.equal(r.deleted_count, ARTIFACTS - KEEP);
        assert.equal(r.total, ARTIFACTS);
      }
      // A run of another project is not this project's.
      const otherRuns = await get<{ id: number }>('/api/v1/projects/other/retention/runs');
      assert.equal((await t.req(`/api/v1/projects/ret/retention/runs/${otherRuns.items[0]!.id}`, { auth: ADMIN })).status, 404);
      assert.equal((await t.req(`/api/v1/projects/ret/retention/runs/${otherRuns.items[0]!.id}/items`, { auth: ADMIN })).status, 404);
    });

    it('REST: a run’s decisions page in order, each once, tags previewed with their count', async () => {
      const { items, pages, first } = await walk<{ digest: string; outcome: string; tags: string[]; tag_count: number }>(`/api/v1/projects/ret/retention/runs/${lastRun}/items`, 7);
      assert.equal(first.total, ARTIFACTS - KEEP);
      assert.equal(pages, Math.ceil((ARTIFACTS - KEEP) / 7));
      assert.equal(items.length, ARTIFACTS - KEEP);
      assert.equal(new Set(items.map((x) => x.digest)).size, ARTIFACTS - KEEP);
      const want = Array.from({ length: ARTIFACTS - KEEP }, (_, i) => digestOf(i + 1));
      assert.deepEqual(new Set(items.map((x) => x.digest)), new Set(want));
      assert.ok(items.every((x) => x.outcome === 'would_delete'));
      const many = items.find((x) => x.digest === digestOf(1))!;
      assert.equal(many.tag_count, 15);
      assert.equal(many.tags.length, 10);
      // Filters and hostile input.
      assert.equal((await get(`/api/v1/projects/ret/retention/runs/${lastRun}/items?outcome=failed`)).items.length, 0);
      assert.equal((await t.req(`/api/v1/projects/ret/retention/runs/${lastRun}/items?outcome=nope`, { auth: ADMIN })).status, 400);
      assert.equal((await t.req(`/api/v1/projects/ret/retention/runs/${lastRun}/items?cursor=abc.def`, { auth: ADMIN })).status, 400);
      // Anonymous callers get what they get for the policy itself (a private project is not shown to them).
      const anonymous = (await t.req('/api/v1/projects/ret/retention')).status;
      assert.ok(anonymous === 401 || anonymous === 404);
      assert.equal((await t.req(`/api/v1/projects/ret/retention/runs/${lastRun}/items`)).status, anonymous);
      // The job's own result stays bounded: its listed artifacts carry a tag preview too.
      const job = (await (await t.req(`/api/v1/jobs/${lastRun}`, { auth: ADMIN })).json()) as { result: { deleted: { tags: string[]; tag_count: number }[] } };
      assert.ok(job.result.deleted.every((d) => d.tags.length <= 10));
    });

    it('a scheduled run (enqueued by cron, not through the API) is listed with the project’s runs', async () => {
      const { id } = await t.services.jobs.enqueue(TAG_RETENTION, { projectId: await projectId(t.db, 'ret'), dryRun: true, trigger: 'schedule' });
      await waitForRun(id);
      const page = await get<{ id: number; trigger: string; deleted_count: number }>('/api/v1/projects/ret/retention/runs?limit=1');
      assert.equal(page.items[0]!.id, id);
      assert.equal(page.items[0]!.trigger, 'schedule');
      // Both repositories of the project now (the artifact suite added one): every decision is an item.
      assert.equal((await get(`/api/v1/projects/ret/retention/runs/${id}/items`)).total, page.items[0]!.deleted_count);
      assert.ok(page.items[0]!.deleted_count > ARTIFACTS - KEEP);
    });

    it('UI: the Retention tab and a run page page by plain links, every row once', async () => {
      const b = new Browser(t);
      await b.login(...ADMIN);
      const runs = await walkUi(b, '/projects/ret/retention', (html) => [...html.matchAll(/href="\/projects\/ret\/retention\/runs\/(\d+)"/g)].map((m) => m[1]!));
      assert.equal(runs.items.length, RUNS + 1);
      assert.equal(new Set(runs.items).size, RUNS + 1);
      assert.ok(runs.pages >= 2, 'more runs than one page of the tab');
      const items = await walkUi(b, `/projects/ret/retention/runs/${lastRun}?limit=10`, (html) => [...html.matchAll(/@<span class="mono">([0-9a-f]{12})<\/span>/g)].map((m) => m[1]!));
      assert.equal(items.items.length, ARTIFACTS - KEEP, JSON.stringify(items));
      assert.equal(new Set(items.items).size, ARTIFACTS - KEEP);
      assert.equal(items.pages, Math.ceil((ARTIFACTS - KEEP) / 10));
      // An htmx request of a later page gets the same rows (the pager's links work with and without JavaScript).
      const html = await (await b.fetch(`/projects/ret/retention/runs/${lastRun}?limit=10`)).text();
      const next = nextLink(html)!;
      const hx = await b.fetch(next, { headers: { 'HX-Request': 'true' } });
      assert.equal(hx.status, 200);
      assert.match(await hx.text(), /id="retention-deleted"/);
    });
  });
}
