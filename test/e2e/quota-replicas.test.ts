import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, push, type Instance, registryToken, sha256Of, uploadBlob } from '../helpers/registry.js';
import { type Cores, onOneCoreAndReplicas } from '../helpers/replicas.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** `a`: the core the registry notifies (its imports can be held back); `b`: the core the second push goes through (another replica, or A itself on one core). */
type Topology = Cores;

/**
 * A project's quota holds whichever core a push goes through. A push is in the registry the moment its manifest PUT
 * answers, and in Berth's usage only once its notification is imported (here held back on the core the registry
 * notifies): every core must count the pushes any core accepted and Berth has not imported yet, refuse what does not
 * fit beside them, stop counting a push the registry refused, and stop counting one whose import never came after a
 * bound (reconciliation imports it).
 */
function quotaAcross(label: string, topo: Topology) {
  describe(`quota across cores [${label}]`, () => {
    let n = 0;
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => topo.a().api(p, { auth: ADMIN, ...init });
    const usage = async (project: string) => Number((await (await api(`/api/v1/projects/${project}`)).json()).usage_bytes);
    const project = async (name: string, quota: number) => {
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
      assert.equal((await api(`/api/v1/projects/${name}`, { method: 'PUT', json: { auto_scan: false, quota_bytes: quota } })).status, 200);
      await new Promise((r) => setTimeout(r, 1100)); // past the /v2 settings cache (V2_MAX_STALENESS_MS) on both cores
    };
    /** An image manifest whose config and one random (incompressible) layer are uploaded through `core`. */
    const image = async (core: Instance, repo: string, layerBytes: number) => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(randomBytes(8))] } }));
      const layer = randomBytes(layerBytes);
      return Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await uploadBlob(core, repo, config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await uploadBlob(core, repo, layer), size: layer.length }],
        }),
      );
    };
    const putManifest = async (core: Instance, repo: string, tag: string, manifest: Buffer) =>
      fetch(`${core.url}/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        body: new Uint8Array(manifest),
        headers: { authorization: `Bearer ${await registryToken(core, repo)}`, 'content-type': OCI_MANIFEST },
      });
    /** A one-layer OCI layout whose layer is `bytes` of random data (gzip cannot shrink it), for skopeo. */
    const layout = async (bytes: number) => ociImage(path.join(topo.a().config.dataDir, `qr-${n++}`), [{ 'opt/blob': randomBytes(bytes) }], 't');
    const skopeoPush = (core: Instance, src: string, ref: string) => push(src, `docker://${core.host}/${ref}`, ADMIN);
    const skopeoRefused = (core: Instance, src: string, ref: string) =>
      fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', src, `docker://${core.host}/${ref}`]);

    // Holds events in A's inbox: stored (the registry got its 200) but not applied, as when the drain lags.
    const sync = () => topo.a().services.sync as unknown as { kick: () => void };
    const hold = () => {
      sync().kick = () => undefined;
    };
    const release = () => {
      delete (sync() as { kick?: unknown }).kick;
      sync().kick();
    };
    /** Reservations the database still holds for a project (every core reads the same table). */
    const reserved = async (project: string) => {
      const db = topo.a().db;
      const p = await db.selectFrom('projects').select('id').where('name', '=', project).executeTakeFirstOrThrow();
      return (await db.selectFrom('quota_reservations').select('digest').where('project_id', '=', p.id).execute()).length;
    };
    const imported = (project: string, repo: string, tag: string) => eventually(async () => (await api(`/api/v1/projects/${project}/repositories/${repo}/artifacts/${tag}`)).status === 200, 20_000);

    it('a push through B is judged with the push A accepted and has not imported yet (skopeo)', async () => {
      await project('qr-held', MiB);
      const first = await layout(700 * KiB);
      const second = await layout(700 * KiB);
      hold();
      try {
        await skopeoPush(topo.a(), first, 'qr-held/app:one');
        assert.equal(await usage('qr-held'), 0, 'the first push is not imported yet');
        const refused = await skopeoRefused(topo.b(), second, 'qr-held/app:two');
        assert.match(refused, /quota/);
      } finally {
        release();
      }
      await imported('qr-held', 'app', 'one');
      assert.equal(await reserved('qr-held'), 0, 'the import ends the reservation');
      const used = await usage('qr-held');
      assert.ok(used > 700 * KiB && used <= MiB, `usage ${used} within the 1 MiB quota`);
      assert.equal((await api('/api/v1/projects/qr-held/repositories/app/artifacts/two')).status, 404);
    });

    it('a PUT the registry refuses frees what its quota check reserved; the import of a re-pushed manifest ends its reservation', async () => {
      await project('qr-refused', MiB);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(randomBytes(8))] } }));
      // The layer was never uploaded: the quota check takes its declared 700 KiB, the registry refuses the manifest.
      const missing = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await uploadBlob(topo.a(), 'qr-refused/app', config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Of(randomBytes(32)), size: 700 * KiB }],
        }),
      );
      const fits = await image(topo.b(), 'qr-refused/app', 700 * KiB);
      hold();
      try {
        const res = await putManifest(topo.a(), 'qr-refused/app', 'broken', missing);
        assert.equal(res.status, 400, await res.clone().text());
        assert.match(await res.text(), /BLOB_UNKNOWN/);
        assert.equal(await reserved('qr-refused'), 0);
        const ok = await putManifest(topo.b(), 'qr-refused/app', 'fits', fits);
        assert.equal(ok.status, 201, await ok.clone().text());
      } finally {
        release();
      }
      await imported('qr-refused', 'app', 'fits');
      // the same manifest again under another tag: Berth holds it already, and its import ends this reservation too
      assert.equal((await putManifest(topo.b(), 'qr-refused/app', 'again', fits)).status, 201);
      await imported('qr-refused', 'app', 'again');
      await eventually(async () => (await reserved('qr-refused')) === 0);
    });

    it('a reservation whose import never comes stops counting after its bound', async () => {
      await project('qr-expired', MiB);
      const later = await image(topo.b(), 'qr-expired/app', 700 * KiB);
      const ttl = topo.a().services.policy.reservationTtlMs;
      topo.a().services.policy.reservationTtlMs = 3000;
      hold();
      try {
        await skopeoPush(topo.a(), await layout(700 * KiB), 'qr-expired/app:first');
        const at = Date.now();
        const live = await putManifest(topo.b(), 'qr-expired/app', 'later', later);
        assert.ok(Date.now() - at < 3000, 'judged while the reservation was live');
        assert.equal(live.status, 412, 'counted while live');
        await new Promise((r) => setTimeout(r, 3200 - (Date.now() - at)));
        const expired = await putManifest(topo.b(), 'qr-expired/app', 'later', later);
        assert.equal(expired.status, 201, `no longer counted once expired: ${await expired.clone().text()}`);
      } finally {
        topo.a().services.policy.reservationTtlMs = ttl;
        release();
      }
      await imported('qr-expired', 'app', 'later');
    });

    it('concurrent pushes through both cores never take the project past its quota', async () => {
      await project('qr-race', MiB);
      // 300 KiB each (plus a config and a manifest of a few hundred bytes): three fit in 1 MiB, four do not.
      const cores = [topo.a(), topo.b()];
      const images = await Promise.all(Array.from({ length: 8 }, (_, i) => image(cores[i % 2]!, 'qr-race/app', 300 * KiB)));
      hold();
      let statuses: number[];
      try {
        statuses = await Promise.all(images.map(async (m, i) => (await putManifest(cores[i % 2]!, 'qr-race/app', `t${i}`, m)).status));
      } finally {
        release();
      }
      const accepted = statuses.filter((s) => s === 201).length;
      assert.deepEqual(
        statuses.filter((s) => s !== 201 && s !== 412),
        [],
      );
      assert.equal(accepted, 3, `accepted ${accepted} of 8: ${statuses.join(',')}`);
      for (const [i, s] of statuses.entries()) if (s === 201) await imported('qr-race', 'app', `t${i}`);
      assert.equal(await reserved('qr-race'), 0, 'every import ended its reservation');
      const used = await usage('qr-race');
      assert.ok(used <= MiB, `usage ${used} within the 1 MiB quota`);
    });
  });
}

onOneCoreAndReplicas('quota', quotaAcross);
