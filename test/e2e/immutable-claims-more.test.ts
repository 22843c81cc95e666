import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { eventually, startInstance, type Instance, registryToken, sha256Of, uploadBlob } from '../helpers/registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/**
 * Ways into an immutable tag's claim the first-push race test does not take: a PUT the quota refuses (refused after
 * the claim, before the registry sees it) frees the tag at once, and two image indexes pushed at once to one new tag
 * store exactly one (the artifact counter moves with each import: children and indexes).
 */
for (const dialect of testDialects()) {
  describe(`immutable tag claims, more ways in [${dialect}]`, () => {
    let core: Instance;
    before(async () => {
      core = await startInstance(dialect);
    });
    after(async () => core?.destroy());
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => core.api(p, { auth: ADMIN, ...init });
    const put = async (repo: string, ref: string, body: Buffer, type: string) => {
      const res = await fetch(`${core.url}/v2/${repo}/manifests/${ref}`, {
        method: 'PUT',
        body: new Uint8Array(body),
        headers: { authorization: `Bearer ${await registryToken(core, repo)}`, 'content-type': type },
      });
      return { status: res.status, text: await res.text() };
    };
    const image = async (repo: string, variant: string) => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(randomBytes(8))] } }));
      const layer = randomBytes(4096);
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await uploadBlob(core, repo, config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await uploadBlob(core, repo, layer), size: layer.length }],
          annotations: { variant },
        }),
      );
      return body;
    };
    const project = async (name: string, extra: Record<string, unknown> = {}) => {
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
      assert.equal((await api(`/api/v1/projects/${name}`, { method: 'PUT', json: { auto_scan: false, immutable_tags: ['v*'], ...extra } })).status, 200);
      await new Promise((r) => setTimeout(r, 1100));
    };

    it('a PUT the quota refuses frees its claim at once: another digest may then take the tag', async () => {
      await project('imq', { quota_bytes: 1000 });
      const repo = 'imq/app';
      const big = await image(repo, 'big');
      const refused = await put(repo, 'v1', big, OCI_MANIFEST);
      assert.equal(refused.status, 412, refused.text);
      assert.match(refused.text, /quota/);
      assert.equal(await core.db.selectFrom('tag_claims').select('tag').where('repository', '=', repo).executeTakeFirst(), undefined);
      assert.equal((await api('/api/v1/projects/imq', { method: 'PUT', json: { quota_bytes: null } })).status, 200);
      await new Promise((r) => setTimeout(r, 1100));
      const other = await image(repo, 'other');
      const ok = await put(repo, 'v1', other, OCI_MANIFEST);
      assert.equal(ok.status, 201, ok.text);
    });

    it('of two indexes pushed at once to one new immutable tag exactly one is stored, 8 rounds', async () => {
      await project('imi');
      const repo = 'imi/app';
      const a = await image(repo, 'a');
      const b = await image(repo, 'b');
      assert.equal((await put(repo, sha256Of(a), a, OCI_MANIFEST)).status, 201);
      assert.equal((await put(repo, sha256Of(b), b, OCI_MANIFEST)).status, 201);
      const index = (children: Buffer[], n: string) =>
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, digest: sha256Of(c), size: c.length, platform: { os: 'linux', architecture: 'amd64' } })),
            annotations: { n },
          }),
        );
      for (let i = 0; i < 8; i++) {
        const one = index([a], `${i}-1`);
        const two = index([b], `${i}-2`);
        const res = await Promise.all([put(repo, `v${i}`, one, OCI_INDEX), put(repo, `v${i}`, two, OCI_INDEX)]);
        assert.deepEqual(res.map((r) => r.status).sort(), [201, 412], res.map((r) => `${r.status} ${r.text}`).join(' / '));
        const winner = res[0]!.status === 201 ? sha256Of(one) : sha256Of(two);
        const got = await eventually(async () => {
          const r = await api(`/api/v1/projects/imi/repositories/app/artifacts/v${i}`);
          return r.status === 200 && ((await r.json()) as { digest: string }).digest;
        }, 20_000);
        assert.equal(got, winner);
      }
      // the counter moved with the imports: 2 images + 8 indexes
      const list = await (await api('/api/v1/projects/imi/repositories')).json();
      assert.equal(list.items[0].artifact_count, 10, JSON.stringify(list.items));
    });
  });
}
