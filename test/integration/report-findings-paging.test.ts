import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import * as reports from '../../src/db/repos/scan-reports.js';
import type { Finding } from '../../src/scanner/matcher.js';
import { ADMIN, Browser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

const SEVS = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
const finding = (i: number): Finding => ({
  advisoryId: `CVE-2024-${String(1000 + i)}`,
  aliases: [],
  package: `pkg-${String.fromCharCode(122 - (i % 26))}${i}`,
  type: 'deb',
  installedVersion: '1.0',
  fixedVersion: i % 2 ? '1.1' : null,
  severity: SEVS[i % 5]!,
  cvssScore: null,
  cvssVector: null,
  summary: null,
  links: [],
  path: 'var/lib/dpkg/status',
});

/** As a scan stores them: worst severity first. */
const stored = () => Array.from({ length: 23 }, (_, i) => finding(i)).sort((a, b) => SEVS.indexOf(a.severity) - SEVS.indexOf(b.severity) || a.advisoryId.localeCompare(b.advisoryId));

const result = (findings: Finding[], finishedAt: number) => ({
  scanner: 'test',
  dbUpdatedAt: null,
  finishedAt,
  os: 'debian 12',
  counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 },
  fixable: 0,
  findings,
  packages: [],
  problems: [],
  completeness: 'complete' as const,
  gaps: [],
  jobId: null,
  startedAt: finishedAt,
});

// A report's findings page with keyset cursors like every other list, REST and UI (links that work without JS).
for (const dialect of testDialects()) {
  describe(`report findings pages [${dialect}]`, () => {
    let t: TestApp;
    let digest: string;
    let artifactId: number;
    const base = () => `/api/v1/projects/fp/repositories/app/artifacts/${digest}/vulnerabilities`;
    before(async () => {
      t = await startTestApp(dialect);
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'fp' } })).status, 201);
      const db = t.db;
      const pid = Number((await db.selectFrom('projects').select('id').where('name', '=', 'fp').executeTakeFirstOrThrow()).id);
      const repo = await art.ensureRepository(db, pid, 'fp/app', Date.now());
      digest = `sha256:${'f'.repeat(64)}`;
      artifactId = await art.upsertArtifact(db, repo, digest, {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        manifestSize: 10,
        size: 10,
        configDigest: null,
        os: 'linux',
        architecture: 'amd64',
        variant: null,
        created: null,
        pushedAt: Date.now(),
        pushedBy: 'admin',
        blobs: [],
        children: [],
        type: 'image',
      });
      await reports.upsertReportResult(db, artifactId, result(stored(), 1_000));
    });
    after(async () => t?.close({ drop: true }));

    const walk = async (query: string) => {
      const seen: string[] = [];
      let url = `${base()}?${query}`;
      const pages: { items: { id: string }[]; next_cursor: string | null; prev_cursor: string | null; total: number }[] = [];
      for (let i = 0; i < 50; i++) {
        const res = await t.req(url, { auth: ADMIN });
        assert.equal(res.status, 200, await res.clone().text());
        const body = await res.json();
        pages.push(body);
        seen.push(...body.items.map((f: { id: string }) => f.id));
        if (!body.next_cursor) break;
        url = `${base()}?${query}&cursor=${encodeURIComponent(body.next_cursor)}`;
      }
      return { seen, pages };
    };

    it('follows next_cursor through every finding once, in each sort, and prev_cursor back', async () => {
      const whole = (await (await t.req(`${base()}?limit=100`, { auth: ADMIN })).json()).items.map((f: { id: string }) => f.id);
      assert.equal(whole.length, 23);
      assert.equal(whole[1], 'CVE-2024-1005', "the report's own order: worst first");
      const { seen, pages } = await walk('limit=5');
      assert.deepEqual(seen, whole);
      assert.equal(pages.length, 5);
      assert.equal(pages[0]!.prev_cursor, null);
      assert.equal(pages[4]!.next_cursor, null);
      assert.equal(pages[2]!.total, 23);
      const back = await (await t.req(`${base()}?limit=5&cursor=${encodeURIComponent(pages[2]!.prev_cursor!)}`, { auth: ADMIN })).json();
      assert.deepEqual(
        back.items.map((f: { id: string }) => f.id),
        pages[1]!.items.map((f) => f.id),
      );
      for (const sort of ['package', 'id']) {
        const all = (await (await t.req(`${base()}?limit=100&sort=${sort}`, { auth: ADMIN })).json()).items.map((f: { id: string }) => f.id);
        assert.deepEqual((await walk(`limit=4&sort=${sort}`)).seen, all, sort);
        assert.notDeepEqual(all, whole);
      }
      const high = await walk('limit=2&severity=high');
      assert.equal(high.seen.length, 10, 'critical and high: 5 + 5');
    });

    it('refuses a cursor from another filter or from before a rescan, and keeps small page numbers', async () => {
      const first = await (await t.req(`${base()}?limit=5&severity=high`, { auth: ADMIN })).json();
      const other = await t.req(`${base()}?limit=5&severity=low&cursor=${encodeURIComponent(first.next_cursor)}`, { auth: ADMIN });
      assert.equal(other.status, 400);
      const paged = await (await t.req(`${base()}?limit=5&page=2`, { auth: ADMIN })).json();
      assert.equal(paged.page, 2);
      assert.equal(paged.items.length, 5);
      assert.equal((await t.req(`${base()}?limit=5&page=2&cursor=${encodeURIComponent(first.next_cursor)}`, { auth: ADMIN })).status, 400);
      const earlier = await (await t.req(`${base()}?limit=5`, { auth: ADMIN })).json();
      await reports.upsertReportResult(t.db, artifactId, result(stored(), 2_000));
      const stale = await t.req(`${base()}?limit=5&cursor=${encodeURIComponent(earlier.next_cursor)}`, { auth: ADMIN });
      assert.equal(stale.status, 400);
      assert.match((await stale.json()).errors[0].message, /start again without cursor/);
    });

    it('pages the artifact page by plain next and previous links', async () => {
      const browser = new Browser(t);
      await browser.login(ADMIN[0], ADMIN[1]);
      const whole = (await (await t.req(`${base()}?limit=100`, { auth: ADMIN })).json()).items.map((f: { id: string }) => f.id);
      let url: string | null = `/projects/fp/repositories/app/artifacts/${digest}?limit=6`;
      const seen: string[] = [];
      let prev: string | null = null;
      for (let i = 0; url && i < 20; i++) {
        const html = await (await browser.fetch(url)).text();
        seen.push(...[...html.matchAll(/<td><strong>([^<]+)<\/strong>/g)].map((m) => m[1]!));
        const unescapeHtml = (s: string | undefined) => s?.replace(/&amp;/g, '&') ?? null;
        if (i === 1) prev = unescapeHtml(/<a href="([^"]+)" rel="prev">/.exec(html)?.[1]);
        url = unescapeHtml(/<a href="([^"]+)" rel="next">/.exec(html)?.[1]);
      }
      assert.deepEqual(seen, whole);
      assert.ok(prev, 'page 2 links back');
      const again = await (await browser.fetch(prev!)).text();
      assert.deepEqual(
        [...again.matchAll(/<td><strong>([^<]+)<\/strong>/g)].map((m) => m[1]),
        whole.slice(0, 6),
      );
    });
  });
}
