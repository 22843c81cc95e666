import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { eventually, startInstance, type Instance } from '../helpers/registry.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1024 * 1024;

/** Quota counts what the registry stores: a manifest's declared sizes are the pusher's claim, not the truth. */
for (const dialect of testDialects()) {
  describe(`quota counts real blob sizes [${dialect}]`, () => {
    let b: Instance;
    let token: string;
    const v2 = (p: string, init: RequestInit = {}) => fetch(`${b.url}/v2/quota/app${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
    const upload = async (blob: Buffer) => {
      const start = await v2('/blobs/uploads/', { method: 'POST' });
      assert.equal(start.status, 202, await start.clone().text());
      const loc = new URL(start.headers.get('location')!, b.url);
      loc.searchParams.set('digest', sha(blob));
      const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(blob), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } });
      assert.equal(put.status, 201, await put.clone().text());
      return sha(blob);
    };
    let manifest: Buffer;

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'quota' } });
      await b.api('/api/v1/projects/quota', { method: 'PUT', auth: ADMIN, json: { auto_scan: false, quota_bytes: MiB } });
      token = (await (await b.api('/service/token?service=berth-registry&scope=repository:quota/app:pull,push', { auth: ADMIN })).json()).token;
      const layer = randomBytes(9 * MiB);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(randomBytes(8))] } }));
      const layerDigest = await upload(layer);
      const configDigest = await upload(config);
      // Every descriptor claims 10 bytes.
      manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 10 },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: 10 }],
        }),
      );
    });
    after(async () => b?.destroy());

    const putManifest = () => v2('/manifests/lie', { method: 'PUT', body: new Uint8Array(manifest), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });

    it('refuses a manifest declaring 10-byte layers for a 9 MiB blob in a 1 MiB project', async () => {
      const res = await putManifest();
      assert.equal(res.status, 412);
      const body = await res.json();
      assert.match(body.errors[0].message, /quota/);
      assert.match(body.errors[0].message, /9\.0 MiB/);
    });

    it('reports the real usage once stored', async () => {
      await b.api('/api/v1/projects/quota', { method: 'PUT', auth: ADMIN, json: { quota_bytes: null } });
      // /v2 reads project settings through a cache that is at most a moment stale
      await eventually(async () => (await putManifest()).status === 201);
      const art = await eventually(async () => {
        const r = await b.api('/api/v1/projects/quota/repositories/app/artifacts/lie', { auth: ADMIN });
        return r.status === 200 ? r.json() : null;
      });
      assert.ok(art.size >= 9 * MiB, `artifact size ${art.size}`);
      const p = await (await b.api('/api/v1/projects/quota', { auth: ADMIN })).json();
      assert.ok(p.usage_bytes >= 9 * MiB, `usage ${p.usage_bytes}`);
      // and the next push is judged against it
      await b.api('/api/v1/projects/quota', { method: 'PUT', auth: ADMIN, json: { quota_bytes: 9 * MiB + 100_000 } });
      const small = await upload(randomBytes(200_000));
      const m2 = Buffer.from(JSON.stringify({ ...JSON.parse(manifest.toString()), layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: small, size: 1 }] }));
      await new Promise((r) => setTimeout(r, 1100)); // past the /v2 settings cache (V2_MAX_STALENESS_MS)
      const res = await v2('/manifests/second', { method: 'PUT', body: new Uint8Array(m2), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 412);
      assert.match((await res.json()).errors[0].message, /quota/);
    });

    it('a quick push is judged with the pushes before it counted, imported or not', async () => {
      const usage = async () => Number((await (await b.api('/api/v1/projects/quota', { auth: ADMIN })).json()).usage_bytes);
      await b.services.sync.idle();
      const base = await usage();
      await b.api('/api/v1/projects/quota', { method: 'PUT', auth: ADMIN, json: { quota_bytes: base + 1.5 * MiB } });
      await new Promise((r) => setTimeout(r, 1100)); // past the /v2 settings cache
      const image = async (bytes: number | Buffer) => {
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(randomBytes(8))] } }));
        const layer = Buffer.isBuffer(bytes) ? bytes : randomBytes(bytes);
        return Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await upload(config), size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await upload(layer), size: layer.length }],
          }),
        );
      };
      const put = (tag: string, m: Buffer) => v2(`/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(m), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      const shared = randomBytes(MiB);
      const [a, a2, c, d] = [await image(shared), await image(shared), await image(MiB), await image(Math.round(0.4 * MiB))];
      // Held back: the registry has the push the moment it answers, Berth imports it when the event is applied.
      const sync = b.services.sync as unknown as { kick: () => void };
      sync.kick = () => undefined;
      try {
        assert.equal((await put('quick-a', a)).status, 201);
        assert.equal(await usage(), base, 'the first push is not imported yet');
        const second = await put('quick-b', c);
        assert.equal(second.status, 412, 'the second MiB does not fit beside the first');
        assert.match((await second.json()).errors[0].message, /quota/);
        // the same layer under another config is counted once, pending or not
        assert.equal((await put('quick-a2', a2)).status, 201);
      } finally {
        delete (sync as { kick?: unknown }).kick;
        sync.kick();
      }
      await eventually(async () => (await usage()) > base + MiB);
      // counted once: imported now, the first push is in the usage and no longer held on the side
      assert.equal((await put('quick-d', d)).status, 201);
    });
  });
}
