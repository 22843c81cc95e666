import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, push, type Instance, registryToken, sha256Of, uploadBlob } from '../helpers/registry.js';
import { type Cores, onOneCoreAndReplicas } from '../helpers/replicas.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** `a`: the core the registry notifies (its imports can be held back); `b`: the core the second push goes through (another replica, or A itself on one core). */
type Topology = Cores;

/**
 * An immutable tag never moves, whichever cores its pushes go through and however close together they come: of two
 * first pushes of one new tag with different digests exactly one is stored, the other gets the immutable-tag refusal.
 * The check of an existing tag cannot see a push in flight (neither the database nor the registry has it yet), so
 * each PUT claims the tag for its digest in the database every core shares before it is forwarded.
 */
function immutableAcross(label: string, topo: Topology) {
  describe(`immutable tags across cores [${label}]`, () => {
    let n = 0;
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => topo.a().api(p, { auth: ADMIN, ...init });
    const project = async (name: string) => {
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
      assert.equal((await api(`/api/v1/projects/${name}`, { method: 'PUT', json: { auto_scan: false, immutable_tags: ['v*'] } })).status, 200);
      await new Promise((r) => setTimeout(r, 1100)); // past the /v2 settings cache (V2_MAX_STALENESS_MS) on both cores
    };
    /** Blobs uploaded once; manifests differing only in an annotation (so in digest) reference them. */
    const blobs = async (repo: string) => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(randomBytes(8))] } }));
      const layer = randomBytes(2048);
      return {
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await uploadBlob(topo.a(), repo, config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await uploadBlob(topo.a(), repo, layer), size: layer.length }],
      };
    };
    const manifest = (b: Awaited<ReturnType<typeof blobs>>, variant: string) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, ...b, annotations: { variant } }));
    const putManifest = async (core: Instance, repo: string, tag: string, body: Buffer) => {
      const res = await fetch(`${core.url}/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        body: new Uint8Array(body),
        headers: { authorization: `Bearer ${await registryToken(core, repo)}`, 'content-type': OCI_MANIFEST },
      });
      return { status: res.status, text: await res.text() };
    };
    /** The digest the registry serves for a tag (asked through Berth). */
    const served = async (repo: string, tag: string) => {
      const res = await fetch(`${topo.a().url}/v2/${repo}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${await registryToken(topo.a(), repo)}`, accept: OCI_MANIFEST },
      });
      assert.equal(res.status, 200, `${repo}:${tag}`);
      return res.headers.get('docker-content-digest');
    };
    const claims = async (repo: string) => (await topo.a().db.selectFrom('tag_claims').select(['tag', 'digest']).where('repository', '=', repo).execute()).length;
    const imported = (project: string, repo: string, tag: string) =>
      eventually(async () => {
        const res = await api(`/api/v1/projects/${project}/repositories/${repo}/artifacts/${tag}`);
        return res.status === 200 && ((await res.json()) as { digest: string }).digest;
      }, 20_000);

    // Holds events in A's inbox: the registry stored the push, Berth has not imported it (as when the drain lags).
    const sync = () => topo.a().services.sync as unknown as { kick: () => void };
    const hold = () => {
      sync().kick = () => undefined;
    };
    const release = () => {
      delete (sync() as { kick?: unknown }).kick;
      sync().kick();
    };

    it('of two first pushes of one new immutable tag with different digests exactly one wins, 20 rounds; the tag never moves', async () => {
      await project('imr-race');
      const repo = 'imr-race/app';
      const b = await blobs(repo);
      const rounds = 20;
      const winners: string[] = [];
      hold();
      try {
        for (let i = 0; i < rounds; i++) {
          const one = manifest(b, `${i}-a`);
          const two = manifest(b, `${i}-b`);
          const [x, y] = await Promise.all([putManifest(topo.a(), repo, `v${i}`, one), putManifest(topo.b(), repo, `v${i}`, two)]);
          const stored = [x, y].filter((r) => r.status === 201);
          assert.equal(stored.length, 1, `round ${i}: exactly one push stored (${x.status} ${x.text} / ${y.status} ${y.text})`);
          const refused = x.status === 201 ? y : x;
          assert.equal(refused.status, 412, refused.text);
          assert.match(refused.text, new RegExp(`tag ${repo}:v${i} is immutable in project imr-race`));
          const winner = x.status === 201 ? sha256Of(one) : sha256Of(two);
          winners.push(winner);
          assert.equal(await served(repo, `v${i}`), winner, `round ${i}: the registry serves the winner`);
        }
      } finally {
        release();
      }
      for (let i = 0; i < rounds; i++) assert.equal(await imported('imr-race', 'app', `v${i}`), winners[i], `v${i} imported at the winning digest`);
      await eventually(async () => (await claims(repo)) === 0);
      // imported now: another digest over any of them is refused, and the registry still serves the winner
      for (const i of [0, rounds - 1]) {
        const late = await putManifest(topo.b(), repo, `v${i}`, manifest(b, `${i}-late`));
        assert.equal(late.status, 412, late.text);
        assert.equal(await served(repo, `v${i}`), winners[i]);
      }
    });

    it('the same manifest pushed twice at once is stored; a mutable tag takes no claim', async () => {
      await project('imr-same');
      const repo = 'imr-same/app';
      const b = await blobs(repo);
      for (let i = 0; i < 5; i++) {
        const m = manifest(b, `same-${i}`);
        const res = await Promise.all([putManifest(topo.a(), repo, `v${i}`, m), putManifest(topo.b(), repo, `v${i}`, m)]);
        // the second may come after the first is stored, and then meets the existing tag: never anything else
        assert.ok(
          res.some((r) => r.status === 201),
          res.map((r) => `${r.status} ${r.text}`).join(' / '),
        );
        for (const r of res) assert.ok(r.status === 201 || r.status === 412, `${r.status} ${r.text}`);
        assert.equal(await served(repo, `v${i}`), sha256Of(m));
      }
      const mutable = await Promise.all([putManifest(topo.a(), repo, 'latest', manifest(b, 'l1')), putManifest(topo.b(), repo, 'latest', manifest(b, 'l2'))]);
      assert.deepEqual(
        mutable.map((r) => r.status),
        [201, 201],
      );
      assert.equal(await topo.a().db.selectFrom('tag_claims').select('tag').where('repository', '=', repo).where('tag', '=', 'latest').executeTakeFirst(), undefined);
    });

    it("a live claim (another core's push in flight) refuses another digest; a PUT the registry refuses frees its claim at once; a stale claim expires", async () => {
      await project('imr-claims');
      const repo = 'imr-claims/app';
      const b = await blobs(repo);
      const now = Date.now();
      const db = topo.a().db;
      // a push in flight on another core, as the database shows it
      await db
        .insertInto('tag_claims')
        .values({ repository: repo, tag: 'v-held', digest: sha256Of(Buffer.from('other')), holder: 'x', claimed_at: now, expires_at: now + 60_000 })
        .execute();
      const held = await putManifest(topo.b(), repo, 'v-held', manifest(b, 'held'));
      assert.equal(held.status, 412, held.text);
      assert.match(held.text, /is immutable in project imr-claims/);
      // a core that died with its push in flight: its claim stops counting after its bound
      await db
        .insertInto('tag_claims')
        .values({ repository: repo, tag: 'v-stale', digest: sha256Of(Buffer.from('other')), holder: 'y', claimed_at: now - 10_000, expires_at: now - 1 })
        .execute();
      const stale = await putManifest(topo.b(), repo, 'v-stale', manifest(b, 'stale'));
      assert.equal(stale.status, 201, stale.text);
      // the layer was never uploaded: the registry refuses the manifest, and the tag is free for another digest now
      const missing = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: b.config, layers: [{ ...b.layers[0], digest: sha256Of(randomBytes(32)) }] }));
      const broken = await putManifest(topo.a(), repo, 'v-broken', missing);
      assert.equal(broken.status, 400, broken.text);
      assert.equal(await db.selectFrom('tag_claims').select('tag').where('repository', '=', repo).where('tag', '=', 'v-broken').executeTakeFirst(), undefined);
      const fixed = await putManifest(topo.b(), repo, 'v-broken', manifest(b, 'fixed'));
      assert.equal(fixed.status, 201, fixed.text);
      await imported('imr-claims', 'app', 'v-broken');
      await imported('imr-claims', 'app', 'v-stale');
    });

    it('two skopeo pushes of one new immutable tag at once: one is stored, the other refused', async () => {
      await project('imr-skopeo');
      const dir = topo.a().config.dataDir;
      const one = await ociImage(path.join(dir, `imr-${n++}`), [{ 'opt/one': randomBytes(64) }], 't');
      const two = await ociImage(path.join(dir, `imr-${n++}`), [{ 'opt/two': randomBytes(64) }], 't');
      const outcomes = await Promise.allSettled([push(one, `docker://${topo.a().host}/imr-skopeo/app:v1`, ADMIN), push(two, `docker://${topo.b().host}/imr-skopeo/app:v1`, ADMIN)]);
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok')).join(' / '));
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      assert.match(String(refused.reason), /immutable/);
      const digest = await imported('imr-skopeo', 'app', 'v1');
      assert.equal(await served('imr-skopeo/app', 'v1'), digest);
    });
  });
}

onOneCoreAndReplicas('immutable tags', immutableAcross);
