import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, Browser } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { startReceiver } from '../helpers/receiver.js';
import { eventually, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';

const LAYER = [{ 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n' }];
const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
type Job = {
  id: number;
  status: string;
  result: {
    dry_run: boolean;
    deleted: { repository: string; digest: string; tags: string[]; size: number }[];
    deleted_count: number;
    bytes: number;
    total: number;
    retained: number;
    failed_count: number;
  };
};

for (const dialect of testDialects()) {
  describe(`tag retention: rules, dry run equals the real run, immutability, indexes, schedule, webhook [${dialect}]`, () => {
    let b: Instance;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let n = 0;
    const digests: Record<string, string> = {};
    const dev: [string, string] = ['retdev', 'retdev-pw-123'];
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(p, { auth: ADMIN, ...init });
    const img = (tag: string) => ociImage(path.join(b.config.dataDir, `img-${n++}`), LAYER, tag);
    const artifactOf = async (repo: string, ref: string) => (await api(`/api/v1/projects/ret/repositories/${repo}/artifacts/${ref}`)).json();
    const pushed: [string, string][] = [];
    const pushTo = async (repo: string, tag: string) => {
      await push(await img(tag), `docker://${b.host}/ret/${repo}:${tag}`, ADMIN);
      pushed.push([repo, tag]);
      await new Promise((r) => setTimeout(r, 20)); // distinct push times
    };
    /** Waits for the pushes to be recorded; a reconciliation first repairs tags whose push event raced the tag write. */
    const settle = async () => {
      const res = await api('/api/v1/system/reconcile', { method: 'POST' });
      const { id } = await res.json();
      await eventually(async () => (await (await api(`/api/v1/jobs/${id}`)).json()).status === 'success', 30_000);
      for (const [repo, tag] of pushed.splice(0)) {
        digests[`${repo}:${tag}`] = (
          await eventually(async () => {
            const r = await api(`/api/v1/projects/ret/repositories/${repo}/artifacts/${tag}`);
            return r.status === 200 ? r.json() : null;
          })
        ).digest;
      }
    };
    const runJob = async (dryRun: boolean): Promise<Job> => {
      const res = await api('/api/v1/projects/ret/retention/run', { method: 'POST', json: { dry_run: dryRun } });
      assert.equal(res.status, 202);
      const { id } = await res.json();
      return eventually(async () => {
        const j = await (await api(`/api/v1/jobs/${id}`)).json();
        return j.status === 'success' || j.status === 'error' ? j : null;
      }, 30_000);
    };
    const deletedSet = (j: Job) => j.result.deleted.map((d) => d.digest).sort();

    before(async () => {
      b = await startInstance(dialect, { BERTH_WEBHOOK_RETRY_MS: '200', BERTH_OUTBOUND_ALLOW: '127.0.0.1' });
      rx = await startReceiver();
      await api('/api/v1/users', { method: 'POST', json: { username: dev[0], password: dev[1] } });
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'ret' } })).status, 201);
      await api('/api/v1/projects/ret/members', { method: 'POST', json: { username: dev[0], role: 'developer' } });
      assert.equal((await api('/api/v1/projects/ret', { method: 'PUT', json: { auto_scan: false, immutable_tags: ['rel-*'] } })).status, 200);
      await api('/api/v1/projects/ret/webhooks', { method: 'POST', json: { url: `${rx.url}/ret`, event_types: ['TAG_RETENTION'] } });
      for (const t of ['v1', 'v2', 'rel-1', 'v3']) await pushTo('app', t);
      await pushTo('web', 'w1');
      await pushTo('web', 'w2');
      // two multi-arch indexes whose platform images carry no tags of their own
      const token = (await (await api(`/service/token?service=berth-registry&scope=${encodeURIComponent('repository:ret/multi:pull,push')}`)).json()).token;
      const putIndex = async (tag: string, children: string[]) => {
        const manifests = [];
        for (const c of children) {
          const r = await fetch(`${b.url}/v2/ret/multi/manifests/${c}`, { headers: { accept: ACCEPT, authorization: `Bearer ${token}` } });
          const body = Buffer.from(await r.arrayBuffer());
          manifests.push({ mediaType: r.headers.get('content-type'), digest: r.headers.get('docker-content-digest'), size: body.length, platform: { os: 'linux', architecture: c } });
        }
        const res = await fetch(`${b.url}/v2/ret/multi/manifests/${tag}`, {
          method: 'PUT',
          body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
          headers: { 'content-type': 'application/vnd.oci.image.index.v1+json', authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 201, await res.text());
        pushed.push(['multi', tag]);
        await new Promise((r) => setTimeout(r, 20));
      };
      await pushTo('multi', 'arm64');
      await putIndex('idx-old', ['arm64']);
      await pushTo('multi', 'amd64');
      await pushTo('multi', 's390x');
      await putIndex('idx-new', ['amd64', 's390x']);
      await settle();
      for (const t of ['arm64', 'amd64', 's390x']) assert.equal((await api(`/api/v1/projects/ret/repositories/multi/tags/${t}`, { method: 'DELETE' })).status, 204);
      // v1 is pulled last: the newest by pull time
      await skopeo('inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/ret/app:v1`);
      await eventually(async () => (await artifactOf('app', 'v1')).pull_count > 0);
    });
    after(async () => {
      await b?.destroy();
      await rx?.close();
    });

    it('validates the policy and lets only project admins see or change it', async () => {
      assert.deepEqual(await (await api('/api/v1/projects/ret/retention')).json(), { rules: [], schedule: null, next_runs: [], updated_at: null });
      const bad = [
        { rules: [{ repositories: '**', tags: '**', untagged: false, retain: { kind: 'latest_pushed' } }] },
        { rules: [{ repositories: '**', tags: '**', retain: { kind: 'keep_all' } }] },
        { rules: [], schedule: 'every day' },
        { rules: [{ repositories: 'a b', tags: '**', retain: { kind: 'always' } }] },
        { rules: Array.from({ length: 16 }, () => ({ repositories: '**', tags: '**', retain: { kind: 'always' } })) },
        { rules: [], extra: true },
      ];
      for (const json of bad) assert.equal((await api('/api/v1/projects/ret/retention', { method: 'PUT', json })).status, 400, JSON.stringify(json).slice(0, 80));
      assert.equal((await b.api('/api/v1/projects/ret/retention', { auth: dev })).status, 403);
      assert.equal((await b.api('/api/v1/projects/ret/retention', { method: 'PUT', auth: dev, json: { rules: [] } })).status, 403);
      assert.equal((await b.api('/api/v1/projects/ret/retention/run', { method: 'POST', auth: dev, json: { dry_run: true } })).status, 403);
      assert.equal((await b.api('/api/v1/projects/ret/retention')).status, 404, 'a private project answers anonymous callers like a missing one');
      assert.equal((await api('/api/v1/projects/ret/retention/run', { method: 'POST', json: { dry_run: 'yes' } })).status, 400);
    });

    it('a dry run lists what would go (with bytes) and deletes nothing; the real run deletes exactly that', async () => {
      const rules = [
        { repositories: 'app', tags: '**', untagged: false, retain: { kind: 'latest_pushed', count: 1 } },
        { repositories: 'app', tags: '**', untagged: false, retain: { kind: 'latest_pulled', count: 1 } },
        { repositories: 'multi', tags: '**', untagged: true, retain: { kind: 'latest_pushed', count: 1 } },
      ];
      const put = await api('/api/v1/projects/ret/retention', { method: 'PUT', json: { rules, schedule: null } });
      assert.equal(put.status, 200, await put.clone().text());
      const expected = [digests['app:v2']!, digests['multi:idx-old']!, digests['multi:arm64']!].sort();

      // The dry run reads the project's three repositories one per page, the real run all on one: the same decisions.
      const pageSize = b.services.retention.batchSize;
      b.services.retention.batchSize = 1;
      const dry = await runJob(true).finally(() => {
        b.services.retention.batchSize = pageSize;
      });
      assert.equal(dry.status, 'success', JSON.stringify(dry));
      assert.equal(dry.result.dry_run, true);
      assert.deepEqual(deletedSet(dry), expected, 'newest by push (v3), newest by pull (v1), immutable rel-1, the kept index and its images stay; web is not selected');
      assert.equal(
        dry.result.bytes,
        dry.result.deleted.reduce((x, d) => x + d.size, 0),
      );
      assert.ok(dry.result.bytes > 0);
      assert.equal(dry.result.total, 11);
      for (const ref of ['v2']) assert.equal((await api(`/api/v1/projects/ret/repositories/app/artifacts/${ref}`)).status, 200, 'a dry run deletes nothing');

      const real = await runJob(false);
      assert.equal(real.status, 'success', JSON.stringify(real));
      assert.deepEqual(deletedSet(real), deletedSet(dry), 'the real run deletes what the dry run listed');
      assert.equal(real.result.failed_count, 0);
      assert.equal(real.result.bytes, dry.result.bytes);
      for (const [key, gone] of Object.entries({
        'app:v1': false,
        'app:v2': true,
        'app:rel-1': false,
        'app:v3': false,
        'web:w1': false,
        'web:w2': false,
        'multi:idx-old': true,
        'multi:arm64': true,
        'multi:idx-new': false,
        'multi:amd64': false,
        'multi:s390x': false,
      })) {
        const [repo] = key.split(':');
        assert.equal((await api(`/api/v1/projects/ret/repositories/${repo}/artifacts/${digests[key]}`)).status, gone ? 404 : 200, key);
      }
      // and the registry agrees
      assert.equal(await skopeo('inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', '--raw', `docker://${b.host}/ret/multi:idx-new`).then(() => 'ok'), 'ok');
      const log = await (await api(`/api/v1/jobs/${real.id}/log`)).json();
      assert.equal(log.items.filter((l: { message: string }) => l.message.startsWith('deleted ')).length, 3);
      const audit = await (await api('/api/v1/audit-logs?action=delete&limit=50')).json();
      assert.ok(audit.items.some((x: { resource: string }) => x.resource === `ret/app@${digests['app:v2']}`));

      // TAG_RETENTION reached the project's webhook, for both runs
      const events = await eventually(async () => (rx.got.length >= 2 ? rx.got : null), 20_000);
      const realEvent = events.find((e) => e.body.event_data.retention.dry_run === false)!;
      assert.equal(realEvent.body.type, 'TAG_RETENTION');
      assert.equal(realEvent.body.event_data.retention.deleted, 3);
      assert.equal(realEvent.body.event_data.retention.total, 11);
    });

    it("runs on the project's cron schedule, listed with the other schedules; removing the schedule stops it", async () => {
      const policy = await (await api('/api/v1/projects/ret/retention')).json();
      const put = await api('/api/v1/projects/ret/retention', { method: 'PUT', json: { rules: policy.rules, schedule: '0 4 * * *' } });
      assert.equal(put.status, 200);
      const body = await put.json();
      assert.equal(body.schedule, '0 4 * * *');
      assert.equal(body.next_runs.length, 3);
      assert.match(body.next_runs[0], /T04:00:00\.000Z$/);
      const project = await (await api('/api/v1/projects/ret')).json();
      const name = `retention:${project.id}`;
      const schedules = await (await api('/api/v1/schedules')).json();
      const s = (schedules.items ?? schedules).find((x: { name: string }) => x.name === name);
      assert.equal(s.cron, '0 4 * * *');
      await pushTo('app', 'v4');
      // a fire runs a real retention (here: nothing left to delete)
      // v4 is now the newest by push time and, never pulled, counts as pulled at its push (after v1's pull)
      await settle();
      await b.services.scheduler.fire(name, Date.now());
      const job = await eventually(async () => {
        const list = await (await api('/api/v1/jobs?type=retention&limit=10')).json();
        const j = (list.items ?? list).find((x: { payload: { trigger: string }; status: string }) => x.payload.trigger === 'schedule' && x.status === 'success');
        return j ?? null;
      }, 30_000);
      assert.deepEqual(job.result.deleted.map((d: { digest: string }) => d.digest).sort(), [digests['app:v1'], digests['app:v3']].sort());
      assert.equal((await api('/api/v1/projects/ret/retention', { method: 'PUT', json: { rules: policy.rules, schedule: null } })).status, 200);
      const after = await (await api('/api/v1/schedules')).json();
      assert.ok(!(after.items ?? after).some((x: { name: string }) => x.name === name));
    });

    it('the Retention tab saves the policy (422 on bad JSON), queues a dry run and shows what it would delete', async () => {
      const ui = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(b.url + p, init) } } as never);
      await ui.login(...ADMIN);
      const csrf = await ui.csrf();
      const tab = await (await ui.fetch('/projects/ret/retention')).text();
      assert.match(tab, /Tag retention/);
      assert.match(tab, /latest_pulled/);
      assert.equal((await ui.post('/projects/ret/retention', { _csrf: csrf, rules: '[{', schedule: '' })).status, 422);
      const rules = JSON.stringify([{ repositories: 'web', tags: '**', untagged: false, retain: { kind: 'latest_pushed', count: 1 } }]);
      assert.equal((await ui.post('/projects/ret/retention', { _csrf: csrf, rules, schedule: '' })).status, 303);
      const queued = await ui.post('/projects/ret/retention/run', { _csrf: csrf, dry_run: 'true' });
      assert.equal(queued.status, 303);
      const where = queued.headers.get('location')!;
      assert.match(where, /^\/projects\/ret\/retention\/runs\/\d+$/);
      const html = await eventually(async () => {
        const h = await (await ui.fetch(where)).text();
        return /would be deleted/.test(h) ? h : null;
      }, 20_000);
      assert.match(html, /1 of \d+ artifacts would be deleted/);
      assert.match(html, /ret\/web@/);
      assert.equal((await api(`/api/v1/projects/ret/repositories/web/artifacts/w1`)).status, 200, 'a dry run from the UI deletes nothing');
      assert.equal((await ui.post('/projects/ret/retention/run', { dry_run: 'true' })).status, 403, 'CSRF token required');
    });
  });
}
