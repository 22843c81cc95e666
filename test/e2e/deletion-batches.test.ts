import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage, ociIndex } from '../helpers/oci.js';
import { eventually, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';

/**
 * A repository or project deletion reads its artifacts, tags and repositories a batch at a time (here 2), never
 * whole: the rules hold across batches (an immutable tag in a later page of tags, or in a later repository, refuses
 * the whole deletion before anything goes), indexes go before the children they list although those come first by
 * id, and everything goes in the end.
 */
for (const dialect of testDialects()) {
  describe(`repository and project deletions in small batches [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    let multi: { ref: string; index: string; children: string[] };
    const order: string[] = [];
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(`/api/v1/projects/bat${p}`, { auth: ADMIN, ...init });
    const known = async (repo: string, ref: string) => (await api(`/repositories/${repo}/artifacts/${ref}`)).status === 200;
    const image = async (repo: string, tag: string) => {
      await push(await ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ 'etc/id': `${repo}-${tag}-${n}` }], 't'), `docker://${b.host}/bat/${repo}:${tag}`, ADMIN);
      return inspectDigest(`docker://${b.host}/bat/${repo}:${tag}`, ADMIN);
    };
    const inRegistry = async (repo: string, digest: string) => {
      const token = (await (await b.api(`/service/token?service=berth-registry&scope=repository:bat/${repo}:pull`, { auth: ADMIN })).json()).token;
      const res = await fetch(`${b.url}/v2/bat/${repo}/manifests/${digest}`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' },
      });
      return res.status === 200;
    };
    const artifactsOfProject = async () =>
      Number(
        (
          await b.db
            .selectFrom('artifacts as a')
            .innerJoin('repositories as r', 'r.id', 'a.repository_id')
            .innerJoin('projects as p', 'p.id', 'r.project_id')
            .where('p.name', '=', 'bat')
            .select((e) => e.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const digests: Record<string, string[]> = { tags: [], other: [] };

    before(async () => {
      b = await startInstance(dialect);
      b.services.deletion.batchSize = 2;
      // every manifest DELETE the deletion service sends, in order
      const registry = (b.services.deletion as unknown as { registry: { deleteManifest: (repo: string, digest: string) => Promise<boolean> } }).registry;
      const send = registry.deleteManifest.bind(registry);
      registry.deleteManifest = async (repo, digest) => {
        order.push(`${repo}@${digest}`);
        return send(repo, digest);
      };
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'bat' } })).status, 201);
      await api('', { method: 'PUT', json: { auto_scan: false } });
      // the children are pushed (and imported, so numbered) before the index that lists them
      multi = await ociIndex(
        path.join(b.config.dataDir, `idx-${n++}`),
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
          { os: 'linux', architecture: 'ppc64le' },
        ],
        'v1',
      );
      await skopeo('copy', '--all', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', multi.ref, `docker://${b.host}/bat/multi:v1`);
      // five tags on three images: `keep-9` sorts after two pages of two
      for (const t of ['a1', 'a2', 'a3', 'a4']) digests.tags!.push(await image('tags', t));
      await skopeo(
        'copy',
        '--retry-times',
        '0',
        '--src-creds',
        ADMIN.join(':'),
        '--dest-creds',
        ADMIN.join(':'),
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${b.host}/bat/tags:a4`,
        `docker://${b.host}/bat/tags:keep-9`,
      );
      for (const t of ['o1', 'o2', 'o3']) digests.other!.push(await image('other', t));
      // a later repository by name (zz) in the second page of repositories
      digests.zz = [await image('zz', 'keep-1')];
      await eventually(async () => (await artifactsOfProject()) === 4 + 4 + 3 + 1 && (await known('tags', 'keep-9')), 20_000);
      await api('', { method: 'PUT', json: { immutable_tags: ['keep-*'] } });
    });
    after(async () => b?.destroy());

    it('an immutable tag in a later page of tags, or in a later repository, refuses the whole deletion before anything goes', async () => {
      const repo = await api('/repositories/tags', { method: 'DELETE' });
      assert.equal(repo.status, 412);
      assert.match((await repo.json()).errors[0].message, /keep-9 is immutable/);
      const project = await api('?force=true', { method: 'DELETE' });
      assert.equal(project.status, 412);
      assert.match((await project.json()).errors[0].message, /immutable/);
      assert.deepEqual(order, [], 'no manifest was deleted');
      assert.equal(await artifactsOfProject(), 12);
    });

    it('a repository deletion in batches of 2 deletes the index before the children it lists, and everything', async () => {
      const res = await api('/repositories/multi', { method: 'DELETE' });
      assert.equal(res.status, 204, await res.text());
      assert.equal(order[0], `bat/multi@${multi.index}`, `the index first: ${order.join(' ')}`);
      assert.deepEqual(order.slice(1).sort(), multi.children.map((c) => `bat/multi@${c}`).sort());
      for (const d of [multi.index, ...multi.children]) assert.equal(await inRegistry('multi', d), false, d);
      assert.equal((await api('/repositories/multi')).status, 404);
    });

    it('a forced project deletion in batches of 2 deletes every repository and artifact', async () => {
      await api('', { method: 'PUT', json: { immutable_tags: [] } });
      order.length = 0;
      const res = await api('?force=true', { method: 'DELETE' });
      assert.equal(res.status, 204, await res.text());
      assert.deepEqual(order.sort(), [...digests.tags!.map((d) => `bat/tags@${d}`), ...digests.other!.map((d) => `bat/other@${d}`), `bat/zz@${digests.zz![0]}`].sort());
      for (const d of digests.other!) assert.equal(await inRegistry('other', d), false);
      assert.equal((await api('')).status, 404);
      assert.equal(await artifactsOfProject(), 0);
    });
  });
}
