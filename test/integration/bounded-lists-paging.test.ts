import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

/**
 * Lists that used to come whole (a project's retention runs, a run's decisions, an artifact's tags and referrers)
 * page like every other list: more rows than a page, walked by next_cursor (REST) and by the pager's plain links (UI),
 * must give every row exactly once.
 */

interface Envelope<T> {
  items: T[];
  limit: number;
  next_cursor: string | null;
  prev_cursor: string | null;
  total: number | null;
}

const nextLink = (html: string) => /<a href="([^"]+)" rel="next">/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;
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

    it('UI: the Retention tab and a run page page by plain links, every row once', async () => {
      const b = new Browser(t);
      await b.login(...ADMIN);
      const runs = await walkUi(b, '/projects/ret/retention', (html) => [...html.matchAll(/href="\/projects\/ret\/retention\/runs\/(\d+)"/g)].map((m) => m[1]!));
      assert.equal(runs.items.length, RUNS);
      assert.equal(new Set(runs.items).size, RUNS);
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
