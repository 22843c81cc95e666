import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, push, startInstance, type Instance } from '../helpers/registry.js';

/**
 * Reconciliation reads the registry's catalog and Berth's repositories a page at a time (here 2): every repository
 * the catalog lists is repaired, and every repository only Berth holds (before, between and after the listed ones by
 * name) loses the rows whose manifests the registry does not have, across page boundaries on both sides.
 */
for (const dialect of testDialects()) {
  describe(`reconciliation in small pages [${dialect}]`, () => {
    let b: Instance;
    const REPOS = ['r1', 'r2', 'r3', 'r4', 'r5'];
    const GHOSTS = ['a-ghost', 'r3x', 'z-ghost'];
    const d9 = `sha256:${'9'.repeat(64)}`;
    const api = (p: string) => b.api(`/api/v1/projects/rb${p}`, { auth: ADMIN });
    const tagsOf = async (repo: string) => {
      const res = await api(`/repositories/${repo}/artifacts`);
      if (res.status === 404) return null;
      return ((await res.json()).items as { tags: { name: string }[] }[]).flatMap((a) => a.tags.map((t) => t.name)).sort();
    };
    const bogus = async (repositoryId: number, fill: string) => {
      const now = Date.now();
      await b.db
        .insertInto('artifacts')
        .values({
          repository_id: repositoryId,
          digest: `sha256:${fill.repeat(64)}`,
          media_type: 'application/vnd.oci.image.manifest.v1+json',
          manifest_size: 1,
          size: 1,
          config_digest: null,
          os: null,
          architecture: null,
          variant: null,
          created: null,
          pushed_at: now,
          pulled_at: null,
          pushed_by: null,
          type: 'image',
        })
        .execute();
    };

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'rb' } })).status, 201);
      await b.api('/api/v1/projects/rb', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
      for (const [i, r] of REPOS.entries()) await push(await ociImage(path.join(b.config.dataDir, `rb-${i}`), [{ 'etc/id': r }], 't'), `docker://${b.host}/rb/${r}:v1`, ADMIN);
      await eventually(async () => {
        for (const r of REPOS) if ((await tagsOf(r))?.join() !== 'v1') return false;
        return true;
      }, 20_000);
    });
    after(async () => b?.destroy());

    it('repairs every listed repository and empties every repository only Berth holds, page after page', async () => {
      const projectId = Number((await b.db.selectFrom('projects').select('id').where('name', '=', 'rb').executeTakeFirstOrThrow()).id);
      const now = Date.now();
      for (const [i, g] of GHOSTS.entries()) {
        const res = await b.db
          .insertInto('repositories')
          .values({ project_id: projectId, name: `rb/${g}`, created_at: now, updated_at: now })
          .executeTakeFirstOrThrow();
        await bogus(Number(res.insertId), String(i + 3));
      }
      // drift in listed repositories: a lost tag in r4, a manifest the registry never had in r2
      const r4 = Number((await b.db.selectFrom('repositories').select('id').where('name', '=', 'rb/r4').executeTakeFirstOrThrow()).id);
      await b.db.deleteFrom('tags').where('repository_id', '=', r4).execute();
      const r2 = Number((await b.db.selectFrom('repositories').select('id').where('name', '=', 'rb/r2').executeTakeFirstOrThrow()).id);
      await bogus(r2, '9');

      // immutable-tag claims: one a stopped core left behind (expired), one of a push in flight (live)
      for (const [tag, expires] of [
        ['stale', now - 1],
        ['live', now + 60_000],
      ] as const) {
        await b.db
          .insertInto('tag_claims')
          .values({ repository: 'rb/r1', tag, digest: d9, holder: tag, claimed_at: now - 10, expires_at: expires })
          .execute();
      }

      b.services.sync.reconciler.batchSize = 2;
      const s = await b.services.sync.reconcile();
      assert.equal(s.repositories, REPOS.length, 'every listed repository, over three catalog pages');
      assert.equal(s.tagsSet, 1);
      assert.equal(s.artifactsRemoved, GHOSTS.length + 1);
      for (const r of REPOS) assert.deepEqual(await tagsOf(r), ['v1'], r);
      for (const g of GHOSTS) assert.equal((await api(`/repositories/${g}`)).status, 404, g);
      assert.deepEqual(
        (await b.db.selectFrom('tag_claims').select('tag').where('repository', '=', 'rb/r1').execute()).map((c) => c.tag),
        ['live'],
        'the expired claim is swept, the live one stays',
      );
      const left = await b.db.selectFrom('repositories').select('name').where('project_id', '=', projectId).orderBy('name').execute();
      assert.deepEqual(
        left.map((r) => r.name),
        REPOS.map((r) => `rb/${r}`),
      );
    });

    it('a repository the catalog lists out of byte order (p/app/sub before p/app-x) is not taken for one only Berth holds', async () => {
      // The registry's catalog walks its storage's directories: rb/app, rb/app/sub, rb/app-x; byte order puts rb/app-x
      // before rb/app/sub ('-' < '/').
      const names = ['app', 'app/sub', 'app-x'];
      for (const [i, r] of names.entries()) await push(await ociImage(path.join(b.config.dataDir, `rb-order-${i}`), [{ 'etc/id': r }], 't'), `docker://${b.host}/rb/${r}:v1`, ADMIN);
      await eventually(async () => {
        for (const r of names) if ((await tagsOf(encodeURIComponent(r)))?.join() !== 'v1') return false;
        return true;
      }, 20_000);
      // Every manifest the reconciliation asks the registry for by digest is one it took for absent.
      const client = (b.services.sync.reconciler as unknown as { registry: { resolve: (repo: string, ref: string) => Promise<string | null> } }).registry;
      const resolve = client.resolve;
      const byDigest: string[] = [];
      client.resolve = async (repo, ref) => {
        if (ref.startsWith('sha256:')) byDigest.push(`${repo}@${ref.slice(0, 15)}`);
        return resolve.call(client, repo, ref);
      };
      try {
        b.services.sync.reconciler.batchSize = 2;
        const s = await b.services.sync.reconcile();
        assert.equal(s.artifactsRemoved, 0);
        assert.deepEqual(byDigest, [], 'no listed repository was checked manifest by manifest');
      } finally {
        client.resolve = resolve;
      }
      for (const r of names) assert.deepEqual(await tagsOf(encodeURIComponent(r)), ['v1'], r);
      // A pushed repository's REST times: created at its first push, updated at its newest, never before created.
      for (const r of names) {
        const repo = (await (await api(`/repositories/${encodeURIComponent(r)}`)).json()) as { created_at: string; updated_at: string };
        assert.ok(Date.parse(repo.created_at) <= Date.parse(repo.updated_at), `${r}: ${repo.created_at} ≤ ${repo.updated_at}`);
      }
    });
  });
}
