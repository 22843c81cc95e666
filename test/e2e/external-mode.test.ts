import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser } from '../helpers/app.js';
import { testDialects, type TestDatabase } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, skopeo, type Instance } from '../helpers/registry.js';
import { startReplicaPair, type ReplicaPair } from '../helpers/replicas.js';
import { DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

/**
 * Compose's topology as plain processes (test/helpers/replicas.ts): MariaDB, a docker-registry configured by the same
 * `berth registry-config` command compose runs, and two Berth cores on one MySQL database and one data volume, behind
 * one external URL (A's).
 */
for (const _dialect of testDialects().filter((d) => d === 'mysql')) {
  describe('external registry, MariaDB, two replicas', () => {
    let pair: ReplicaPair;
    let database: TestDatabase;
    let a: Instance;
    let b: Instance;

    before(async () => {
      pair = await startReplicaPair();
      ({ a, b, database } = pair);
      await a.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'ext' } });
      await a.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS });
    });
    after(async () => pair?.destroy());

    let digest = '';
    it('pushes, pulls, scans and deletes with skopeo through core', async () => {
      await push(await ociImage(path.join(database.dataDir, 'img'), DEBIAN_LAYERS, '1'), `docker://${a.host}/ext/app:1`, ADMIN);
      digest = await inspectDigest(`docker://${a.host}/ext/app:1`, ADMIN);
      await skopeo('copy', '--retry-times', '0', '--src-creds', ADMIN.join(':'), '--src-tls-verify=false', `docker://${a.host}/ext/app:1`, `oci:${database.dataDir}/pulled:1`);
      const v = await eventually(async () => {
        const r = await (await a.api('/api/v1/projects/ext/repositories/app/artifacts/1/vulnerabilities', { auth: ADMIN })).json().catch(() => null);
        return r?.status === 'success' ? r : null;
      }, 30_000);
      assert.ok(v.items.some((f: { id: string }) => f.id === 'DEBIAN-CVE-2024-0001'));
      await push(await ociImage(path.join(database.dataDir, 'img2'), [{ 'etc/os-release': 'ID=debian\nVERSION_ID=12\n' }], '1'), `docker://${a.host}/ext/tmp:1`, ADMIN);
      await eventually(async () => (await a.api('/api/v1/projects/ext/repositories/tmp/artifacts/1', { auth: ADMIN })).status === 200);
      assert.equal((await a.api('/api/v1/projects/ext/repositories/tmp/artifacts/1', { method: 'DELETE', auth: ADMIN })).status, 204);
      await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${a.host}/ext/tmp:1`]);
    });

    it('collects garbage on the shared storage from core', async () => {
      const res = await a.api('/api/v1/system/gc', { method: 'POST', auth: ADMIN, json: {} });
      const { id } = await res.json();
      const j = await eventually(async () => {
        const x = await (await a.api(`/api/v1/jobs/${id}`, { auth: ADMIN })).json();
        return ['success', 'error'].includes(x.status) ? x : null;
      }, 60_000);
      assert.equal(j.status, 'success', j.error);
      assert.ok(j.result.blobsDeleted >= 1);
      await skopeo('copy', '--retry-times', '0', '--src-creds', ADMIN.join(':'), '--src-tls-verify=false', `docker://${a.host}/ext/app:1`, `oci:${database.dataDir}/pulled2:1`);
    });

    it('GC on replica A waits for an upload in flight on replica B; the upload completes and the image pulls byte-identical', async () => {
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:ext/slow:pull,push', { auth: ADMIN })).json()).token;
      const auth = { authorization: `Bearer ${token}` };
      const sha = (x: Buffer) => `sha256:${createHash('sha256').update(x).digest('hex')}`;
      const blob = randomBytes(6 * 1024 * 1024);
      const digest = sha(blob);
      const start = await fetch(`${b.url}/v2/ext/slow/blobs/uploads/`, { method: 'POST', headers: auth });
      assert.equal(start.status, 202);
      const loc = new URL(start.headers.get('location')!); // the public URL; sent to B's port on purpose
      loc.searchParams.set('digest', digest);
      // A slow client: 12 chunks of 512 KiB, 250 ms apart, through replica B.
      const upload = new Promise<{ status: number; endedAt: number }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: b.port, method: 'PUT', path: loc.pathname + loc.search, headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': blob.length } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, endedAt: Date.now() }));
          },
        );
        req.on('error', reject);
        const chunk = 512 * 1024;
        let i = 0;
        const step = () => {
          if (i * chunk >= blob.length) return void req.end();
          req.write(blob.subarray(i * chunk, (i + 1) * chunk));
          i++;
          setTimeout(step, 250);
        };
        step();
      });
      await new Promise((r) => setTimeout(r, 700));
      const { id } = await (await a.api('/api/v1/system/gc', { method: 'POST', auth: ADMIN, json: {} })).json();
      const done = await upload;
      assert.equal(done.status, 201, 'the upload in flight on B completed');
      const j = await eventually(async () => {
        const x = await (await a.api(`/api/v1/jobs/${id}`, { auth: ADMIN })).json();
        return ['success', 'error'].includes(x.status) ? x : null;
      }, 60_000);
      assert.equal(j.status, 'success', j.error);
      const log = (await (await a.api(`/api/v1/jobs/${id}/log`, { auth: ADMIN })).json()).items as { time: string; message: string }[];
      const drained = log.find((l) => /uploads drained on 2 replica/.test(l.message));
      assert.ok(drained, log.map((l) => l.message).join(' | '));
      assert.ok(Date.parse(drained.time) >= done.endedAt, `GC collected at ${drained.time}, before B's upload ended at ${new Date(done.endedAt).toISOString()}`);
      // The push completes after GC (a blob nothing referenced yet is collected with the rest: the client uploads it
      // again, as registries expect), and the image pulls byte-identical through the other replica.
      const put = async (body: Buffer, p: string, type: string) => fetch(`${b.url}/v2/ext/slow/${p}`, { method: 'PUT', body: new Uint8Array(body), headers: { ...auth, 'content-type': type } });
      const uploadWhole = async (x: Buffer) => {
        if ((await fetch(`${b.url}/v2/ext/slow/blobs/${sha(x)}`, { method: 'HEAD', headers: auth })).status === 200) return;
        const s2 = await fetch(`${b.url}/v2/ext/slow/blobs/uploads/`, { method: 'POST', headers: auth });
        const l2 = new URL(s2.headers.get('location')!);
        l2.searchParams.set('digest', sha(x));
        assert.equal((await fetch(`${b.url}${l2.pathname}${l2.search}`, { method: 'PUT', body: new Uint8Array(x), headers: { ...auth, 'content-type': 'application/octet-stream' } })).status, 201);
      };
      await uploadWhole(blob);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } }));
      await uploadWhole(config);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }],
        }),
      );
      assert.equal((await put(manifest, 'manifests/1', 'application/vnd.oci.image.manifest.v1+json')).status, 201);
      const pulled = Buffer.from(await (await fetch(`${a.url}/v2/ext/slow/blobs/${digest}`, { headers: auth })).arrayBuffer());
      assert.equal(sha(pulled), digest);
    });

    it('tokens from either replica are accepted, through either replica', async () => {
      const tokenFromB = (await (await b.api('/service/token?service=berth-registry&scope=repository:ext/app:pull', { auth: ADMIN })).json()).token;
      const res = await fetch(`${a.url}/v2/ext/app/manifests/${digest}`, { headers: { authorization: `Bearer ${tokenFromB}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200);
      // and skopeo through B (its realm points at the shared external URL)
      assert.equal(await inspectDigest(`docker://${b.host}/ext/app:1`, ADMIN), digest);
    });

    it('a member removed on one replica loses /v2 access through the other within seconds (old token)', async () => {
      const creds: [string, string] = ['xrep-dev', 'xrep-Passw0rd!'];
      assert.equal((await a.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: creds[0], password: creds[1] } })).status, 201);
      assert.equal((await a.api('/api/v1/projects/ext/members', { method: 'POST', auth: ADMIN, json: { username: creds[0], role: 'developer' } })).status, 201);
      const token = (await (await a.api('/service/token?service=berth-registry&scope=repository:ext/app:pull', { auth: creds })).json()).token;
      const head = async () =>
        (await fetch(`${b.url}/v2/ext/app/manifests/${digest}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } })).status;
      assert.equal(await head(), 200);
      const members = await (await a.api('/api/v1/projects/ext/members', { auth: ADMIN })).json();
      const id = (members.items ?? members).find((m: { username?: string }) => m.username === creds[0]).user_id;
      assert.equal((await a.api(`/api/v1/projects/ext/members/${id}`, { method: 'DELETE', auth: ADMIN })).status, 204);
      await eventually(async () => (await head()) === 401, 5000);
    });

    it('a UI session created on one replica works on the other', async () => {
      const onA = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(`${a.url}${p}`, init) } } as never);
      const login = await onA.login('admin', ADMIN_PASSWORD);
      assert.equal(login.status, 303);
      const cookie = login.headers
        .getSetCookie()
        .find((c) => c.startsWith('berth_session='))!
        .split(';')[0]!;
      const page = await fetch(`${b.url}/projects`, { headers: { cookie }, redirect: 'manual' });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /ext/);
    });

    it('login rate limits hold across both', async () => {
      await a.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'target', password: 'target-pw-123' } });
      for (let i = 0; i < 5; i++) await (i % 2 ? a : b).api('/api/v1/users/current', { auth: ['target', `wrong-${i}`] });
      assert.equal((await a.api('/api/v1/users/current', { auth: ['target', 'target-pw-123'] })).status, 429);
      assert.equal((await b.api('/api/v1/users/current', { auth: ['target', 'target-pw-123'] })).status, 429);
    });

    it('jobs run exactly once across the replicas', async () => {
      const before = Number(
        (
          await a.db
            .selectFrom('jobs')
            .select((e) => e.fn.countAll<number>().as('n'))
            .where('type', '=', 'scan')
            .executeTakeFirstOrThrow()
        ).n,
      );
      const res = await b.api('/api/v1/system/scan-all', { method: 'POST', auth: ADMIN });
      const { id } = await res.json();
      await eventually(async () => (await a.services.jobs.get(id))?.status === 'success', 30_000);
      await eventually(async () => {
        const rows = await a.db.selectFrom('jobs').select(['status', 'worker_id']).where('type', '=', 'scan').execute();
        return rows.length > before && rows.every((r) => ['success', 'error'].includes(r.status));
      }, 30_000);
      // Each scan-all scan finished once: success, and exactly one run wrote its summary (a retry after a failure
      // would be a second attempt, not a second run of one attempt; it would show here with its error).
      const scans = await a.db.selectFrom('jobs').select(['id', 'attempt', 'status', 'error', 'payload']).where('type', '=', 'scan').where('id', '>', id).execute();
      assert.ok(scans.length >= 1);
      for (const s of scans) {
        const runs = await a.services.jobs.logLines(Number(s.id), 0, 100);
        const summaries = runs.filter((l) => /packages: \d+, findings: \d+/.test(l.message));
        assert.equal(summaries.length, 1, `scan job ${s.id} (${s.status}, attempt ${s.attempt}, ${s.error ?? ''}): ${runs.map((l) => l.message).join(' | ')}`);
      }
    });
  });
}
