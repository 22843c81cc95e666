import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, push, startInstance, type Instance } from '../helpers/registry.js';

const value = (text: string, name: string, labels = ''): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : NaN;
};

for (const dialect of testDialects()) {
  describe(`metrics, health and probes [${dialect}]`, () => {
    let b: Instance;
    before(async () => {
      b = await startInstance(dialect, { BERTH_METRICS_TOKEN: 'metrics-token-0123456789' });
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'met' } });
    });
    after(async () => b?.destroy());

    const scrape = async () => {
      const res = await fetch(`${b.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      return res.text();
    };

    it('needs the metrics token when one is configured', async () => {
      assert.equal((await fetch(`${b.url}/metrics`)).status, 401);
      assert.equal((await fetch(`${b.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    });

    it('is scraped in Prometheus format and changes after a push', async () => {
      const before = await scrape();
      for (const m of [
        'berth_http_request_duration_seconds_bucket',
        'berth_jobs',
        'berth_notification_inbox_depth',
        'berth_notification_lag_seconds',
        'berth_vulndb_age_seconds',
        'berth_registry_up',
        'berth_process_cpu_seconds_total',
      ]) {
        assert.ok(before.includes(m), m);
      }
      assert.equal(value(before, 'berth_registry_up'), 1);
      const inBefore = value(before, 'berth_v2_bytes_total', 'direction="in"') || 0;
      await push(await ociImage(path.join(b.config.dataDir, 'img'), [{ 'etc/os-release': 'ID=debian\nVERSION_ID=12\n', 'opt/x': 'x'.repeat(10_000) }], '1'), `docker://${b.host}/met/app:1`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/met/repositories/app/artifacts/1', { auth: ADMIN })).status === 200);
      await eventually(async () => {
        const after = await scrape();
        return value(after, 'berth_v2_bytes_total', 'direction="in"') > inBefore && value(after, 'berth_tokens_total', 'result="issued"') > 0 && after.includes('family="v2"');
      });
      const after = await scrape();
      assert.ok(!/met\/app|sha256:/.test(after), 'no repository names or digests in labels');
      await b.api('/service/token?scope=repository:met/app:pull', { auth: ['admin', 'wrong-password'] });
      assert.ok(value(await scrape(), 'berth_tokens_total', 'result="denied"') >= 1);
    });

    it('reports each component in health, and answers liveness and readiness', async () => {
      const h = await (await b.api('/api/v1/health')).json();
      assert.deepEqual(Object.keys(h.components).sort(), ['database', 'jobs', 'notifications', 'registry', 'vulndb']);
      assert.equal((await b.api('/livez')).status, 200);
      const ready = await b.api('/readyz');
      assert.equal(ready.status, 200);
      await b.services.managedRegistry()!.stop();
      const down = await b.api('/readyz');
      assert.equal(down.status, 503);
      assert.equal((await down.json()).components.registry.status, 'down');
      assert.equal((await b.api('/livez')).status, 200);
    });
  });
}
