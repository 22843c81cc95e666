import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { vulndbUpdateJob } from '../../src/jobs/types/vulndb-update.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { zipSync } from '../helpers/zip.js';
import { runToEnd } from '../helpers/jobs.js';

for (const dialect of testDialects()) {
  describe(`vulndb-update job [${dialect}]`, () => {
    let t: TestApp;
    let server: http.Server;
    let base: string;
    before(async () => {
      // The loopback feed is allowed explicitly: the outbound policy refuses loopback by default.
      t = await startTestApp(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' });
      // A loopback feed: an osv.dev-style zip and a JSON file.
      const zip = zipSync({ 'FEED-0001.json': JSON.stringify({ id: 'FEED-0001', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'fed' }, versions: ['1.0.0'] }] }) });
      server = http.createServer((req, res) => {
        if (req.url === '/npm/all.zip') res.writeHead(200, { 'content-type': 'application/zip' }).end(zip);
        else if (req.url === '/extra.json')
          res.writeHead(200).end(JSON.stringify([{ id: 'FEED-0002', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'PyPI', name: 'fed' }, versions: ['1.0'] }] }]));
        else res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server?.close();
      await t?.close({ drop: true });
    });

    const run = async (urls: string[]) => {
      const runner = new JobRunner(t.db, t.dialect, createLogger('silent'), { workerId: `feed-${urls.length}`, pollMs: 50, backoffBaseMs: 10 });
      runner.register(vulndbUpdateJob(t.services.advisories, urls, t.services.outbound.client, t.config.dataDir));
      return runToEnd(runner, 'vulndb-update', {});
    };

    it('downloads the configured feeds and imports them', async () => {
      const j = await run([`${base}/npm/all.zip`, `${base}/extra.json`]);
      assert.equal(j.status, 'success', j.error ?? '');
      assert.deepEqual(j.result, { feeds: 2, imported: 2, updated: 0, withdrawn: 0, invalid: 0 });
      const s = await t.services.advisories.status();
      assert.equal(s.total, 2);
    });

    it('succeeds doing nothing without feeds, and fails (after retries) on a broken feed', async () => {
      assert.deepEqual((await run([])).result, { feeds: 0 });
      const bad = await run([`${base}/missing.zip`]);
      assert.equal(bad.status, 'error');
      assert.match(bad.error ?? '', /HTTP 404/);
    });
  });
}
