import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LAG_AFTER_MS, STALL_AFTER_MS, streamHealth } from '../../src/services/registry-sync.js';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';

const ENVELOPE = 'application/vnd.docker.distribution.events.v1+json';
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';

describe('notification stream health', () => {
  const now = 1_000_000_000;
  const cases: [string, Parameters<typeof streamHealth>[0], boolean][] = [
    ['never any activity', { lastActivityAt: 0, lastReceivedAt: 0, oldestPendingAt: null, now }, true],
    ['events flowing', { lastActivityAt: now - 60_000, lastReceivedAt: now - 59_000, oldestPendingAt: null, now }, true],
    ['event stored a moment before the response ended', { lastActivityAt: now - 60_000, lastReceivedAt: now - 60_500, oldestPendingAt: null, now }, true],
    ['activity just now, event on its way', { lastActivityAt: now - 1000, lastReceivedAt: now - 90_000, oldestPendingAt: null, now }, true],
    ['activity with no event since', { lastActivityAt: now - STALL_AFTER_MS - 1000, lastReceivedAt: now - 600_000, oldestPendingAt: null, now }, false],
    ['events waiting too long to apply', { lastActivityAt: 0, lastReceivedAt: now, oldestPendingAt: now - LAG_AFTER_MS - 1000, now }, false],
  ];
  for (const [name, input, ok] of cases) {
    it(name, () => {
      const h = streamHealth(input);
      assert.equal(h.ok, ok, h.detail);
      if (!ok) assert.ok(h.stalledSeconds > 0 || h.lagSeconds > 0);
    });
  }
});

/**
 * One bad event never stalls sync: a pull with a 2,000-character User-Agent, an index of 1,001 entries and an
 * envelope over 1 MiB are each accepted, and the events after them apply.
 */
for (const dialect of testDialects()) {
  describe(`one bad event never stalls sync [${dialect}]`, () => {
    let b: Instance;
    let token: string;
    let n = 0;
    let digest: string;
    const img = () => ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ [`etc/n${n}`]: String(n) }], 't');
    const inDb = (ref: string) => eventually(async () => (await b.api(`/api/v1/projects/note/repositories/app/artifacts/${ref}`, { auth: ADMIN })).status === 200, 30_000);
    const laterPushApplies = async (tag: string) => {
      await push(await img(), `docker://${b.host}/note/app:${tag}`, ADMIN);
      await inDb(tag);
    };

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'note' } });
      await b.api('/api/v1/projects/note', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
      await push(await img(), `docker://${b.host}/note/app:1`, ADMIN);
      digest = await inspectDigest(`docker://${b.host}/note/app:1`, ADMIN);
      await inDb('1');
      token = (await (await b.api('/service/token?service=berth-registry&scope=repository:note/app:pull,push', { auth: ADMIN })).json()).token;
    });
    after(async () => b?.destroy());

    it('a pull with a User-Agent over 1,024 characters is recorded, and later pushes apply', async () => {
      const res = await fetch(`${b.url}/v2/note/app/manifests/${digest}`, { headers: { authorization: `Bearer ${token}`, accept: ACCEPT, 'user-agent': `long-agent/${'x'.repeat(2000)}` } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      await laterPushApplies('2');
      const a = await eventually(async () => {
        const x = await (await b.api(`/api/v1/projects/note/repositories/app/artifacts/${digest}`, { auth: ADMIN })).json();
        return x.pull_count >= 1 ? x : null;
      });
      assert.ok(a.pull_count >= 1);
    });

    it('an image index with 1,001 entries is recorded, and later pushes apply', async () => {
      const manifests = Array.from({ length: 1001 }, (_, i) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest,
        size: 0,
        platform: { os: 'linux', architecture: 'amd64', variant: `v${i}` },
      }));
      const m = (await fetch(`${b.url}/v2/note/app/manifests/${digest}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: ACCEPT } })).headers.get('content-length');
      for (const x of manifests) x.size = Number(m);
      const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
      const res = await fetch(`${b.url}/v2/note/app/manifests/big`, {
        method: 'PUT',
        body: index,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.oci.image.index.v1+json' },
      });
      assert.equal(res.status, 201, await res.text());
      await inDb('big');
      await laterPushApplies('3');
    });

    it('an envelope over 1 MiB is stored, never refused, and later events apply', async () => {
      const event = {
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        action: 'push',
        target: {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          repository: 'note/app',
          tag: 'from-big-envelope',
          references: Array.from({ length: 12_000 }, () => ({ mediaType: 'application/octet-stream', digest, size: 1 })),
        },
        request: { addr: '127.0.0.1:1', method: 'PUT', useragent: 'y'.repeat(5000) },
        actor: { name: 'admin' },
      };
      const body = JSON.stringify({ events: [event] });
      assert.ok(body.length > 1024 * 1024);
      const res = await fetch(`${b.url}/service/notifications`, { method: 'POST', headers: { authorization: `Bearer ${b.services.notificationSecret}`, 'content-type': ENVELOPE }, body });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).stored, 1);
      await inDb('from-big-envelope');
      await laterPushApplies('4');
    });

    it('health and metrics show the stream', async () => {
      const h = await (await b.api('/api/v1/health')).json();
      assert.equal(h.components.notifications.status, 'ok', h.components.notifications.detail);
      const m = await (await b.api('/metrics')).text();
      assert.match(m, /^berth_notification_stall_seconds 0$/m);
      assert.match(m, /^berth_notification_events_skipped \d+$/m);
    });
  });
}
