import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOrCreateTokenKeys } from '../../src/auth/token-keys.js';
import { recountSeverityTotals, severityTotals } from '../../src/db/repos/scan-totals.js';
import { createLogger } from '../../src/log.js';
import { MANIFEST_ACCEPT } from '../../src/registry/constants.js';
import { freePort, ManagedRegistry } from '../../src/registry/managed.js';
import { TokenService } from '../../src/services/token-service.js';
import type { RegistryAccess } from '../../src/services/registry-access.js';
import { ADMIN } from '../helpers/app.js';
import { createTestDatabase, testDialects } from '../helpers/db.js';
import { buildImage, eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';

const ENVELOPE = 'application/vnd.docker.distribution.events.v1+json';
const SECRET = 'test-notification-secret-0123456789';

for (const dialect of testDialects()) {
  describe(`drift and faults [${dialect}]`, () => {
    let b: Instance;
    let registry: ManagedRegistry;
    let tokens: TokenService;
    let regDir: string;

    before(async () => {
      // External-registry mode, so the registry can keep serving while core is down.
      const database = await createTestDatabase(dialect);
      const corePort = await freePort();
      const regPort = await freePort();
      const keys = loadOrCreateTokenKeys(database.dataDir);
      tokens = new TokenService(null as unknown as RegistryAccess, keys, 300);
      regDir = path.join(database.dataDir, 'external-registry');
      registry = new ManagedRegistry({
        bin: 'docker-registry',
        dataDir: regDir,
        log: createLogger('silent'),
        port: regPort,
        config: {
          externalUrl: `http://127.0.0.1:${corePort}`,
          certPath: keys.certPath,
          notifyUrl: `http://127.0.0.1:${corePort}/service/notifications`,
          notificationSecret: SECRET,
          httpSecret: 'http-secret',
        },
      });
      await registry.start();
      b = await startInstance(dialect, { BERTH_REGISTRY_URL: registry.url, BERTH_NOTIFICATION_SECRET: SECRET }, { database, port: corePort });
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'p1' } });
    });
    after(async () => {
      await b?.destroy();
      await registry?.stop();
    });

    /** Direct registry access with a token core would have issued (core itself may be down). */
    const direct = (p: string, init: RequestInit & { actions: string[]; repo: string }) => {
      const token = tokens.sign('admin', [{ type: 'repository', name: init.repo, actions: init.actions }]).token;
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(`${registry.url}${p}`, { ...init, headers });
    };
    const artifacts = async (repo: string) => {
      const res = await b.api(`/api/v1/projects/p1/repositories/${encodeURIComponent(repo)}/artifacts`, { auth: ADMIN });
      if (res.status === 404) return null;
      return (await res.json()).items as { digest: string; tags: { name: string }[] }[];
    };

    let digest = '';

    it('applies notifications from an external registry', async () => {
      await push(await buildImage({ 'etc/a': '1' }), `docker://${b.host}/p1/app:v1`, ADMIN);
      digest = await inspectDigest(`docker://${b.host}/p1/app:v1`, ADMIN);
      const items = await eventually(async () => (await artifacts('app'))?.length === 1 && (await artifacts('app')));
      assert.equal(items[0]!.digest, digest);
    });

    it('duplicate and out-of-order events change nothing', async () => {
      const post = (events: unknown[]) =>
        fetch(`${b.url}/service/notifications`, { method: 'POST', headers: { 'content-type': ENVELOPE, authorization: `Bearer ${SECRET}` }, body: JSON.stringify({ events }) });
      const mt = 'application/vnd.oci.image.manifest.v1+json';
      const ghost = `sha256:${'1'.repeat(64)}`;
      const events = [
        // a late delete for a manifest the registry still has
        { id: 'ooo-1', timestamp: new Date().toISOString(), action: 'delete', target: { repository: 'p1/app', digest } },
        // a tag delete for a tag that still exists
        { id: 'ooo-2', timestamp: new Date().toISOString(), action: 'delete', target: { repository: 'p1/app', tag: 'v1' } },
        // a push for a manifest the registry does not have
        { id: 'ooo-3', timestamp: new Date().toISOString(), action: 'push', target: { repository: 'p1/app', digest: ghost, mediaType: mt, tag: 'ghost' } },
        // a push for a project that does not exist
        { id: 'ooo-4', timestamp: new Date().toISOString(), action: 'push', target: { repository: 'nope/app', digest, mediaType: mt, tag: 'x' } },
      ];
      const first = await (await post(events)).json();
      assert.equal(first.stored, 4);
      const again = await (await post(events)).json();
      assert.deepEqual([again.stored, again.duplicates], [0, 4]);
      await b.services.sync.idle();
      const items = await artifacts('app');
      assert.deepEqual(
        items!.map((a) => [a.digest, a.tags.map((t) => t.name)]),
        [[digest, ['v1']]],
      );
      assert.equal((await b.api('/api/v1/projects/nope', { auth: ADMIN })).status, 404);
    });

    it('reconciliation repairs drift in the database in both directions', async () => {
      const db = b.db;
      const repo = await db.selectFrom('repositories').select('id').where('name', '=', 'p1/app').executeTakeFirstOrThrow();
      // drift 1: a bogus artifact and tag the registry never had
      const now = Date.now();
      const bogus = await db
        .insertInto('artifacts')
        .values({
          repository_id: repo.id,
          digest: `sha256:${'2'.repeat(64)}`,
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
        })
        .executeTakeFirstOrThrow();
      await db
        .insertInto('tags')
        .values({ repository_id: repo.id, artifact_id: Number(bogus.insertId), name: 'bogus', pushed_at: now })
        .execute();
      // drift 2: the real tag lost
      await db.deleteFrom('tags').where('name', '=', 'v1').execute();
      // drift 3: the project's severity counters edited by hand (the bogus artifact above is not in them either)
      const projectId = Number((await db.selectFrom('projects').select('id').where('name', '=', 'p1').executeTakeFirstOrThrow()).id);
      await db.updateTable('project_scan_totals').set({ artifacts: 40, scanned: 30, critical: 20 }).where('project_id', '=', projectId).execute();
      const res = await b.api('/api/v1/system/reconcile', { method: 'POST', auth: ADMIN });
      assert.equal(res.status, 202);
      const job = await res.json();
      assert.equal(job.type, 'reconcile');
      const done = await eventually(async () => {
        const j = await (await b.api(`/api/v1/jobs/${job.id}`, { auth: ADMIN })).json();
        return j.status === 'success' ? j : null;
      });
      const s = { artifacts_removed: done.result.artifactsRemoved, tags_set: done.result.tagsSet, tags_removed: done.result.tagsRemoved };
      assert.equal(s.artifacts_removed, 1);
      assert.equal(s.tags_set, 1);
      assert.equal(s.tags_removed, 1);
      assert.equal(done.result.countersRepaired, 1);
      // The project page reads the counters: they are the rows again (the recount, then the walk's removal of the
      // bogus artifact, which takes it off the counters it was counted into).
      assert.deepEqual(await severityTotals(db, { projectId }), await recountSeverityTotals(db, projectId));
      assert.equal((await severityTotals(db, { projectId })).artifacts, 1);
      const items = await artifacts('app');
      assert.deepEqual(
        items!.map((a) => [a.digest, a.tags.map((t) => t.name)]),
        [[digest, ['v1']]],
      );
      assert.equal((await b.api('/api/v1/system/reconcile', { method: 'POST', auth: ['nobody', 'x'] })).status, 401);
    });

    it('lost notifications (core down, registry restarted with events queued) leave no drift after restart', async () => {
      await b.stop();
      // While core is down: a new tag, a new repository (via cross-repository mounts), and a deleted manifest.
      const m = await direct(`/v2/p1/app/manifests/v1`, { repo: 'p1/app', actions: ['pull'], headers: { accept: MANIFEST_ACCEPT } });
      assert.equal(m.status, 200);
      const type = m.headers.get('content-type')!;
      const body = Buffer.from(await m.arrayBuffer());
      const put = await direct(`/v2/p1/app/manifests/v2`, { repo: 'p1/app', actions: ['pull', 'push'], method: 'PUT', headers: { 'content-type': type }, body });
      assert.equal(put.status, 201);
      const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
        const token = tokens.sign('admin', [
          { type: 'repository', name: 'p1/copy', actions: ['pull', 'push'] },
          { type: 'repository', name: 'p1/app', actions: ['pull'] },
        ]).token;
        const mount = await fetch(`${registry.url}/v2/p1/copy/blobs/uploads/?mount=${d}&from=p1/app`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
        assert.equal(mount.status, 201);
      }
      assert.equal((await direct(`/v2/p1/copy/manifests/c1`, { repo: 'p1/copy', actions: ['pull', 'push'], method: 'PUT', headers: { 'content-type': type }, body })).status, 201);
      // the registry cannot deliver: its events queue in memory; a restart loses them
      await registry.stop();
      await registry.start();
      b = await b.restart();
      await eventually(async () => {
        const copy = await artifacts('copy');
        const app = await artifacts('app');
        return (
          copy?.length === 1 &&
          app?.[0]?.tags
            .map((t) => t.name)
            .sort()
            .join(',') === 'v1,v2'
        );
      }, 20_000);
      // an image whose push notification was lost is still scanned: reconciliation does what the push would have
      await eventually(async () => (await (await b.api('/api/v1/projects/p1/repositories/copy/artifacts/c1/vulnerabilities', { auth: ADMIN })).json().catch(() => null))?.status === 'success', 20_000);
      // and a deletion made behind core's back
      await b.stop();
      assert.equal((await direct(`/v2/p1/copy/manifests/${digest}`, { repo: 'p1/copy', actions: ['delete'], method: 'DELETE' })).status, 202);
      await registry.stop();
      await registry.start();
      b = await b.restart();
      await eventually(async () => (await artifacts('copy')) === null, 20_000);
      assert.ok(fs.existsSync(regDir));
    });
  });
}
