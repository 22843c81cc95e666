import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { gcJob } from '../../src/jobs/types/gc.js';
import { listBlobs } from '../../src/registry/storage.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { gcToEnd, runToEnd } from '../helpers/jobs.js';

for (const dialect of testDialects()) {
  describe(`garbage collection [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    const image = (extra: Record<string, string | Buffer>) => ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ 'etc/os-release': 'ID=debian\nVERSION_ID=12\n', ...extra }], 't');
    const job = (body: Record<string, unknown>) => gcToEnd(b, body);
    const layerOf = async (ref: string) => {
      const out = `${b.config.dataDir}/inspect-${n++}`;
      await skopeo('copy', '--retry-times', '0', '--src-creds', ADMIN.join(':'), '--src-tls-verify=false', ref, `oci:${out}:x`);
      const index = JSON.parse(fs.readFileSync(`${out}/index.json`, 'utf8'));
      const manifest = JSON.parse(fs.readFileSync(`${out}/blobs/sha256/${index.manifests[0].digest.slice(7)}`, 'utf8'));
      return { layer: manifest.layers[0].digest as string, config: manifest.config.digest as string, dir: out };
    };
    const stored = () => listBlobs(b.services.managedRegistry()!.storageDir);

    let keptLayer: string;
    let goneLayer: string;
    let goneSrc: string;

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gc' } });
      await b.api('/api/v1/projects/gc', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
      await push(await image({ 'opt/keep': 'k'.repeat(5000) }), `docker://${b.host}/gc/keep:1`, ADMIN);
      goneSrc = await image({ 'opt/gone': 'g'.repeat(5000) });
      await push(goneSrc, `docker://${b.host}/gc/gone:1`, ADMIN);
      keptLayer = (await layerOf(`docker://${b.host}/gc/keep:1`)).layer;
      goneLayer = (await layerOf(`docker://${b.host}/gc/gone:1`)).layer;
      await eventually(async () => (await b.api('/api/v1/projects/gc/repositories/gone/artifacts/1', { auth: ADMIN })).status === 200);
      assert.equal((await b.api('/api/v1/projects/gc/repositories/gone/artifacts/1', { method: 'DELETE', auth: ADMIN })).status, 204);
    });
    after(async () => b?.destroy());

    it('a dry run frees nothing but says what it would free', async () => {
      const before = stored();
      const j = await job({ dry_run: true });
      assert.equal(j.status, 'success', j.error);
      assert.equal(j.result.dryRun, true);
      assert.ok(j.result.blobsDeleted >= 2, `dry run found ${j.result.blobsDeleted} blobs`);
      assert.ok(j.result.bytesFreed > 0);
      assert.deepEqual([...stored().keys()].sort(), [...before.keys()].sort());
    });

    it('frees the deleted image’s unique layers and never a referenced one; kept images pull byte-identical', async () => {
      assert.ok(stored().has(goneLayer));
      const j = await job({});
      assert.equal(j.status, 'success', j.error);
      assert.ok(j.result.blobsDeleted >= 2);
      assert.ok(j.result.bytesFreed > 0);
      const after = stored();
      assert.ok(!after.has(goneLayer), 'the deleted image’s layer is gone');
      assert.ok(after.has(keptLayer), 'the kept image’s layer is still there');
      const pulled = await layerOf(`docker://${b.host}/gc/keep:1`);
      assert.equal(pulled.layer, keptLayer);
      const log = await (await b.api(`/api/v1/jobs/${j.id}/log`, { auth: ADMIN })).json();
      assert.ok(log.items.some((l: { message: string }) => /read-only/.test(l.message)));
      assert.equal(await b.services.policy.readOnly(), null, 'read-only lifted');
    });

    it('pushes work again after GC, including a re-push of a collected image', async () => {
      await push(await image({ 'opt/after': 'a'.repeat(3000) }), `docker://${b.host}/gc/after:1`, ADMIN);
      assert.match(await inspectDigest(`docker://${b.host}/gc/after:1`, ADMIN), /^sha256:/);
      await layerOf(`docker://${b.host}/gc/after:1`);
      // The same image whose blobs GC just removed: with a stale blob cache this "succeeds" and then fails to pull.
      await push(goneSrc, `docker://${b.host}/gc/gone:1`, ADMIN);
      assert.equal((await layerOf(`docker://${b.host}/gc/gone:1`)).layer, goneLayer);
    });

    it('read-only mode refuses writes with a retryable 503 and cannot stick', async () => {
      await b.services.policy.setReadOnly({ reason: 'garbage collection', until: Date.now() + 60_000, jobId: null });
      const err = await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', await image({ x: '1' }), `docker://${b.host}/gc/ro:1`]);
      assert.match(err, /read-only|503|retry/i);
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:gc/ro:pull,push', { auth: ADMIN })).json()).token;
      const res = await fetch(`${b.url}/v2/gc/ro/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 503);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      // reads keep working
      await layerOf(`docker://${b.host}/gc/keep:1`);
      // an expired flag (a GC that died) lets writes through again
      await b.services.policy.setReadOnly({ reason: 'garbage collection', until: Date.now() - 1, jobId: null });
      await new Promise((r) => setTimeout(r, 1100));
      await push(await image({ x: '2' }), `docker://${b.host}/gc/ro:1`, ADMIN);
    });

    it('a GC that fails lifts read-only', async () => {
      const runner = new JobRunner(b.db, b.dialect, createLogger('silent'), { workerId: 'gc-fail', pollMs: 50 });
      runner.register(
        gcJob(b.services.sync, b.services.writes, b.services.policy, runner, {
          bin: '/bin/false',
          target: () => ({ configPath: '/nonexistent', storageDir: b.services.managedRegistry()!.storageDir }),
          drainMs: 100,
        }),
      );
      const j = await runToEnd(runner, 'gc', {});
      assert.equal(j.status, 'error');
      assert.equal(await b.services.policy.readOnly(), null);
    });

    it('a push racing a GC either succeeds and stays pullable, or fails with a retryable error', async () => {
      const pushes = Array.from({ length: 3 }, async (_, i) => {
        const src = await image({ [`opt/race${i}`]: `r${i}`.repeat(4000) });
        try {
          await push(src, `docker://${b.host}/gc/race${i}:1`, ADMIN);
          return { i, ok: true as const };
        } catch (err) {
          return { i, ok: false as const, message: (err as Error).message };
        }
      });
      const [gc, ...results] = await Promise.all([job({}), ...pushes]);
      assert.equal(gc.status, 'success', gc.error);
      for (const r of results) {
        if (r.ok) await layerOf(`docker://${b.host}/gc/race${r.i}:1`);
        else assert.match(r.message, /read-only|503|retry|blob unknown|MANIFEST_BLOB_UNKNOWN/i, r.message);
      }
      // and a retry of any failed push succeeds and pulls
      for (const r of results.filter((x) => !x.ok)) {
        await push(await image({ [`opt/race${r.i}`]: `again${r.i}` }), `docker://${b.host}/gc/race${r.i}:1`, ADMIN);
        await layerOf(`docker://${b.host}/gc/race${r.i}:1`);
      }
    });
  });
}
