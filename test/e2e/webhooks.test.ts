import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/registry/managed.js';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { startReceiver, type Received } from '../helpers/receiver.js';
import { eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';

const LAYER = [{ 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': 'Package: tool\nStatus: install ok installed\nVersion: 1.0-1\n' }];
const SECRET = 'webhook-secret-123';
const SCAN_MIME = 'application/vnd.security.vulnerability.report; version=1.1';

for (const dialect of testDialects()) {
  describe(`project webhooks: events delivered in each format, retried until the receiver is back [${dialect}]`, () => {
    let b: Instance;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let n = 0;
    const img = (tag: string) => ociImage(path.join(b.config.dataDir, `img-${n++}`), LAYER, tag);
    const policies: Record<string, number> = {};
    let projectId = 0;

    const create = async (json: Record<string, unknown>) => {
      const res = await b.api('/api/v1/projects/hooks/webhooks', { method: 'POST', auth: ADMIN, json });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()).id as number;
    };
    const eventsAt = (p: string, type: string) => rx.got.filter((r) => r.path === p && (r.body?.type === type || r.headers['x-berth-event'] === type));

    before(async () => {
      b = await startInstance(dialect, { BERTH_WEBHOOK_RETRY_MS: '300' });
      rx = await startReceiver();
      const res = await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'hooks' } });
      projectId = (await res.json()).id;
      const events = ['PUSH_ARTIFACT', 'SCANNING_COMPLETED'];
      policies.default = await create({ url: `${rx.url}/default`, format: 'default', event_types: events, secret: SECRET, auth_header: 'Bearer hook-token' });
      policies.cloudevents = await create({ url: `${rx.url}/ce`, format: 'cloudevents', event_types: events });
      policies.slack = await create({ url: `${rx.url}/slack`, format: 'slack', event_types: events });
      policies.pullsOnly = await create({ url: `${rx.url}/pulls`, event_types: ['PULL_ARTIFACT'] });
    });
    after(async () => {
      await b?.destroy();
      await rx?.close();
    });

    it('delivers PUSH_ARTIFACT and SCANNING_COMPLETED in Harbor JSON, CloudEvents and Slack form', async () => {
      await push(await img('v1'), `docker://${b.host}/hooks/app:v1`, ADMIN);
      const digest = await inspectDigest(`docker://${b.host}/hooks/app:v1`, ADMIN);
      await eventually(async () => ['/default', '/ce', '/slack'].every((p) => eventsAt(p, 'PUSH_ARTIFACT').length && eventsAt(p, 'SCANNING_COMPLETED').length), 30_000);

      // default: Harbor's shape, signed, with the auth header
      const push1 = eventsAt('/default', 'PUSH_ARTIFACT')[0]!;
      assert.equal(push1.body.type, 'PUSH_ARTIFACT');
      assert.equal(typeof push1.body.occur_at, 'number');
      assert.ok(Math.abs(push1.body.occur_at - Date.now() / 1000) < 600);
      assert.equal(push1.body.operator, 'admin');
      assert.deepEqual(push1.body.event_data.resources, [{ digest, tag: 'v1', resource_url: `${b.host}/hooks/app:v1` }]);
      assert.deepEqual(push1.body.event_data.repository, { date_created: push1.body.event_data.repository.date_created, name: 'app', namespace: 'hooks', repo_full_name: 'hooks/app', repo_type: 'private' });
      assert.equal(push1.headers.authorization, 'Bearer hook-token');
      assert.equal(push1.headers['x-berth-signature'], `sha256=${createHmac('sha256', SECRET).update(push1.raw).digest('hex')}`);
      assert.match(String(push1.headers['content-type']), /^application\/json/);

      const scan1 = eventsAt('/default', 'SCANNING_COMPLETED')[0]!;
      assert.equal(scan1.body.type, 'SCANNING_COMPLETED');
      assert.equal(scan1.body.operator, 'berth');
      const res0 = scan1.body.event_data.resources[0];
      assert.equal(res0.digest, digest);
      assert.equal(res0.tag, 'v1');
      const ov = res0.scan_overview[SCAN_MIME];
      assert.equal(ov.scan_status, 'Success');
      assert.equal(ov.severity, 'None');
      assert.equal(ov.summary.total, 0);
      assert.equal(scan1.body.event_data.repository.repo_full_name, 'hooks/app');

      // cloudevents: structured mode, Harbor's type names, the policy as source
      const ce = eventsAt('/ce', 'PUSH_ARTIFACT')[0]!;
      assert.match(String(ce.headers['content-type']), /^application\/cloudevents\+json/);
      assert.equal(ce.body.specversion, '1.0');
      assert.equal(ce.body.type, 'harbor.artifact.pushed');
      assert.equal(ce.body.source, `/projects/${projectId}/webhook/policies/${policies.cloudevents}`);
      assert.ok(ce.body.id);
      assert.ok(!Number.isNaN(Date.parse(ce.body.time)));
      assert.equal(ce.body.datacontenttype, 'application/json');
      assert.equal(ce.body.operator, 'admin');
      assert.deepEqual(ce.body.data.resources, [{ digest, tag: 'v1', resource_url: `${b.host}/hooks/app:v1` }]);
      assert.equal(ce.body.data.repository.namespace, 'hooks');
      assert.equal(ce.headers['x-berth-signature'], undefined, 'no secret, no signature');
      const ceScan = eventsAt('/ce', 'SCANNING_COMPLETED')[0]!;
      assert.equal(ceScan.body.type, 'harbor.scan.completed');
      assert.equal(ceScan.body.data.resources[0].scan_overview[SCAN_MIME].scan_status, 'Success');

      // slack: a message naming the image and what happened
      const sl = eventsAt('/slack', 'PUSH_ARTIFACT')[0]!;
      assert.match(sl.body.text, /hooks\/app:v1 pushed by admin/);
      assert.equal(sl.body.blocks[0].text.text, sl.body.text);
      assert.match(eventsAt('/slack', 'SCANNING_COMPLETED')[0]!.body.text, /hooks\/app:v1 scanned/);

      // each event once per policy; the pull-only policy got no push
      assert.equal(eventsAt('/default', 'PUSH_ARTIFACT').length, 1);
      assert.ok(rx.got.filter((r) => r.path === '/pulls').every((r) => r.body.type === 'PULL_ARTIFACT'));

      // the delivery log and "last triggered"
      const log = await (await b.api(`/api/v1/projects/hooks/webhooks/${policies.default}/deliveries`, { auth: ADMIN })).json();
      assert.ok(log.items.length >= 2);
      for (const d of log.items) {
        assert.equal(d.status_code, 200);
        assert.equal(typeof d.latency_ms, 'number');
        assert.equal(d.error, null);
      }
      assert.deepEqual(log.items.map((d: { event_type: string }) => d.event_type).sort(), ['PUSH_ARTIFACT', 'SCANNING_COMPLETED']);
      const pol = await (await b.api(`/api/v1/projects/hooks/webhooks/${policies.default}`, { auth: ADMIN })).json();
      assert.ok(pol.last_triggered_at);
    });

    it('delivers PULL_ARTIFACT for a client pull, not for pushes or scans', async () => {
      const { skopeo } = await import('../helpers/registry.js');
      rx.got.length = 0;
      await skopeo('inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/hooks/app:v1`);
      const pulls = await eventually(async () => {
        const g = rx.got.filter((r) => r.path === '/pulls');
        return g.length ? g : null;
      }, 20_000);
      assert.equal(pulls[0]!.body.type, 'PULL_ARTIFACT');
      assert.equal(pulls[0]!.body.event_data.repository.repo_full_name, 'hooks/app');
      assert.equal(pulls[0]!.body.operator, 'admin');
    });

    it('a receiver that is down, even across a Berth restart, gets every event exactly once when it is back', async () => {
      const port = await freePort(); // nothing listens there yet
      const down = await create({ url: `http://127.0.0.1:${port}/late`, event_types: ['PUSH_ARTIFACT'] });
      await push(await img('d1'), `docker://${b.host}/hooks/late:d1`, ADMIN);
      await push(await img('d2'), `docker://${b.host}/hooks/late:d2`, ADMIN);
      // both deliveries failed at least once and wait for their retry
      await eventually(async () => {
        const log = await (await b.api(`/api/v1/projects/hooks/webhooks/${down}/deliveries`, { auth: ADMIN })).json();
        const failed = log.items.filter((d: { status_code: number | null; error: string | null }) => d.status_code === null && d.error);
        return new Set(failed.map((d: { event_id: string }) => d.event_id)).size === 2;
      }, 30_000);
      b = await b.restart();
      const late = await startReceiver({ port });
      try {
        const got = await eventually(async () => (late.got.length >= 2 ? late.got : null), 60_000);
        const tags = got.map((r: Received) => r.body.event_data.resources[0].tag).sort();
        assert.deepEqual(tags, ['d1', 'd2']);
        // and nothing more arrives: each was delivered once
        await b.services.jobs.idle();
        const jobs = await b.services.jobs.list({ type: 'webhook', limit: 100 });
        const mine = jobs.filter((j) => (j.payload as { policyId: number }).policyId === down);
        assert.equal(mine.length, 2);
        assert.ok(mine.every((j) => j.status === 'success'), mine.map((j) => j.status).join(','));
        assert.equal(late.got.length, 2);
        assert.ok(mine.some((j) => j.attempt > 1), 'delivered on a retry');
      } finally {
        await late.close();
      }
    });
  });
}
