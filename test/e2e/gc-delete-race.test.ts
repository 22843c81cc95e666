import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listBlobs } from '../../src/registry/storage.js';
import { freePort } from '../../src/registry/managed.js';
import { ADMIN, ADMIN_PASSWORD, Browser } from '../helpers/app.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../helpers/db.js';
import { startExternalRegistry, startRegistryGate, type ExternalRegistry, type RegistryGate } from '../helpers/external-registry.js';
import { jobEnded } from '../helpers/jobs.js';
import { ociImage, ociIndex } from '../helpers/oci.js';
import { eventually, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
/** The second layer of every image here: the same bytes (only the first layer carries a nonce), so GC must keep it. */
const SHARED = { 'opt/shared': 's'.repeat(4000) };

/**
 * A deletion in flight when garbage collection starts, through each way a deletion comes (REST, the UI, a retention
 * run). GC turns read-only, then waits for the registry writes in flight to drain, deletions included: the deletion's
 * manifest DELETE is held at a loopback proxy between core and the registry (as long as the test likes, no sleeps), GC
 * starts, and only when GC is seen waiting for it does the DELETE go on. Then: the deleted image's blobs are freed and
 * nothing else is, every remaining image pulls by digest, and a deletion that started after GC turned read-only (REST,
 * UI) was refused with a retryable 503 saying why.
 */
for (const dialect of testDialects()) {
  describe(`a deletion racing garbage collection's drain [${dialect}]`, () => {
    let database: TestDatabase;
    let registry: ExternalRegistry;
    let gate: RegistryGate;
    let b: Instance;
    let n = 0;
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(p, { auth: ADMIN, ...init });
    /** A manifest as the registry holds it, read with core's own token (not a pull), and the blobs it names. */
    const manifestOf = async (repo: string, ref: string) => {
      const token = b.services.tokens.internal([{ type: 'repository', name: repo, actions: ['pull'] }]);
      const res = await fetch(`${b.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT, authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, `${repo}:${ref}`);
      const doc = await res.json();
      return { digest: res.headers.get('docker-content-digest')!, config: doc.config?.digest as string, layers: (doc.layers ?? []).map((l: { digest: string }) => l.digest) as string[] };
    };
    const image = async (repo: string, unique: string) => {
      await push(await ociImage(path.join(database.dataDir, `img-${n++}`), [{ 'opt/unique': unique }, SHARED], 't'), `docker://${b.host}/race/${repo}:1`, ADMIN);
      await eventually(async () => (await api(`/api/v1/projects/race/repositories/${repo}/artifacts/1`)).status === 200);
      return manifestOf(`race/${repo}`, '1');
    };
    const logOf = async (id: number) => ((await (await api(`/api/v1/jobs/${id}/log`)).json()).items as { message: string }[]).map((l) => l.message);

    type Image = Awaited<ReturnType<typeof image>>;
    /** Each way a deletion comes in: it starts the deletion of `repo`'s image and resolves once that is done. */
    const ways: { way: string; repo: string; start: (img: Image) => Promise<void> }[] = [
      {
        way: 'REST',
        repo: 'byrest',
        start: async (img) => assert.equal((await api(`/api/v1/projects/race/repositories/byrest/artifacts/${img.digest}`, { method: 'DELETE' })).status, 204),
      },
      {
        way: 'the UI',
        repo: 'byui',
        start: async (img) => {
          const res = await browser.post(`/projects/race/repositories/byui/artifacts/${img.digest}/delete`, { _csrf: await browser.csrf() });
          assert.ok([200, 303].includes(res.status), String(res.status));
        },
      },
      {
        way: 'a retention run',
        repo: 'byretention',
        start: async () => {
          // a rule that selects only this repository and retains none of its tags
          const rules = [{ repositories: 'byretention', tags: 'none', retain: { kind: 'always' } }];
          assert.equal((await api('/api/v1/projects/race/retention', { method: 'PUT', json: { rules } })).status, 200);
          const run = await api('/api/v1/projects/race/retention/run', { method: 'POST', json: { dry_run: false } });
          assert.equal(run.status, 202);
          const job = await jobEnded(b, ((await run.json()) as { id: number }).id);
          assert.equal(job.status, 'success', JSON.stringify(job));
          assert.equal(job.result?.deleted_count, 1, JSON.stringify(job.result));
        },
      },
    ];
    const doomed = new Map<string, Image>();
    let shared: string;
    let later: string;
    let browser: Browser;

    before(async () => {
      database = await createTestDatabase(dialect);
      const port = await freePort();
      registry = await startExternalRegistry(database.dataDir, port);
      gate = await startRegistryGate(registry.url);
      // Core reaches the registry only through the gate; the registry notifies core directly.
      b = await startInstance(dialect, { ...registry.env, BERTH_REGISTRY_URL: gate.url }, { database, port });
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'race' } })).status, 201);
      assert.equal((await api('/api/v1/projects/race', { method: 'PUT', json: { auto_scan: false } })).status, 200);
      for (const w of ways) doomed.set(w.repo, await image(w.repo, w.repo));
      const keep = await image('keep', 'keep');
      later = (await image('later', 'later')).digest;
      shared = keep.layers[1]!;
      for (const img of doomed.values()) assert.equal(img.layers[1], shared, 'the images share their second layer');
      const multi = await ociIndex(
        path.join(database.dataDir, `idx-${n++}`),
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
        'v1',
      );
      await skopeo('copy', '--all', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', multi.ref, `docker://${b.host}/race/multi:v1`);
      await eventually(async () => (await api('/api/v1/projects/race/repositories/multi/artifacts/v1')).status === 200);
      browser = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(`${b.url}${p}`, init) } } as never);
      assert.equal((await browser.login('admin', ADMIN_PASSWORD)).status, 303);
    });
    after(async () => {
      await b?.stop();
      registry?.stop();
      await gate?.close();
      await database?.drop();
    });

    for (const { way, repo, start } of ways) {
      it(`GC waits for a deletion through ${way} in flight, refuses one started after it turned read-only, then frees exactly the deleted image’s blobs`, async () => {
        const gone = doomed.get(repo)!;
        const before = listBlobs(registry.storage);
        const goneBlobs = [gone.digest, gone.config, gone.layers[0]!];
        for (const d of [...goneBlobs, shared]) assert.ok(before.has(d), d);

        // 1. A deletion whose manifest DELETE is in flight at the registry (held at the gate).
        const held = gate.hold((method, p) => method === 'DELETE' && p === `/v2/race/${repo}/manifests/${gone.digest}`);
        const deletion = start(gone);
        deletion.catch(() => undefined); // awaited below; a failing test must not leave it unhandled
        await held.arrived;

        // 2. GC starts, turns read-only and waits for it.
        const started = await api('/api/v1/system/gc', { method: 'POST', json: {} });
        assert.equal(started.status, 202);
        const { id } = (await started.json()) as { id: number };
        let seen: string[] = [];
        const waiting = await eventually(async () => {
          seen = await logOf(id);
          return seen.find((l) => /^waiting for registry writes in flight .*writes: 1,/.test(l)) ?? seen.find((l) => /uploads drained/.test(l));
        }, 20_000).finally(() => {
          if (!seen.some((l) => l.startsWith('waiting for'))) held.release();
        });
        assert.match(waiting, /^waiting for registry writes in flight \(uploads, deletions; writes: 1, replicas: 1\)$/, `GC went on with a deletion in flight: ${seen.join(' | ')}`);

        // 3. While it waits: read-only holds, nothing was collected, and a deletion that starts now is refused.
        try {
          assert.equal((await (await api(`/api/v1/jobs/${id}`)).json()).status, 'running');
          assert.ok(await b.services.policy.readOnly(), 'read-only while GC waits');
          for (const d of goneBlobs) assert.ok(listBlobs(registry.storage).has(d), `${d} still stored while the deletion is in flight`);
          const refused = await api('/api/v1/projects/race/repositories/later/artifacts/1', { method: 'DELETE' });
          assert.equal(refused.status, 503);
          assert.ok(Number(refused.headers.get('retry-after')) > 0);
          assert.deepEqual((await refused.json()).errors, [{ code: 'UNAVAILABLE', message: 'Berth is read-only while garbage collection runs: retry in a few minutes' }]);
          assert.equal((await browser.post(`/projects/race/repositories/later/artifacts/${later}/delete`, { _csrf: await browser.csrf() })).status, 503);
          assert.equal((await api('/api/v1/projects/race/repositories/later/artifacts/1')).status, 200);
        } finally {
          held.release();
        }

        // 4. The deletion finishes, GC drains and collects.
        await deletion;
        const job = await jobEnded(b, id);
        assert.equal(job.status, 'success', job.error);
        const log = await logOf(id);
        assert.ok(log.indexOf(waiting) < log.findIndex((l) => /uploads drained/.test(l)), log.join(' | '));
        const after = listBlobs(registry.storage);
        const freed = [...before.keys()].filter((d) => !after.has(d)).sort();
        assert.deepEqual(freed, [...goneBlobs].sort(), 'exactly the deleted image’s own blobs are freed');
        assert.equal(job.result.blobsDeleted, goneBlobs.length);
        assert.ok(after.has(shared), 'the layer other images use is kept');
        assert.equal(await b.services.policy.readOnly(), null, 'read-only lifted');
        assert.equal((await api(`/api/v1/projects/race/repositories/${repo}/artifacts/${gone.digest}`)).status, 404);
      });
    }

    it('every remaining image pulls by digest, and the refused deletion goes through now', async () => {
      const repos = await (await api('/api/v1/projects/race/repositories')).json();
      const names = ((repos.items ?? repos) as { name: string }[]).map((r) => r.name.replace(/^race\//, '')).sort();
      assert.deepEqual(names, ['keep', 'later', 'multi']);
      for (const repo of names) {
        const arts = await (await api(`/api/v1/projects/race/repositories/${repo}/artifacts`)).json();
        for (const a of (arts.items ?? arts) as { digest: string }[]) {
          await skopeo(
            'copy',
            '--all',
            '--retry-times',
            '0',
            '--src-creds',
            ADMIN.join(':'),
            '--src-tls-verify=false',
            `docker://${b.host}/race/${repo}@${a.digest}`,
            `oci:${database.dataDir}/pulled-${n++}:x`,
          );
        }
      }
      assert.equal((await api('/api/v1/projects/race/repositories/later/artifacts/1', { method: 'DELETE' })).status, 204);
    });
  });
}
