import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { eventually } from '../helpers/registry.js';
import { JobWebhooks } from '../../src/jobs/hooks.js';
import type { JobEvent } from '../../src/jobs/runner.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { vulndbUpdateJob } from '../../src/jobs/types/vulndb-update.js';
import { createLogger } from '../../src/log.js';
import type { Logger } from '../../src/log.js';
import { OutboundClient, OutboundError, OutboundPolicy, parseAddressRules } from '../../src/net/outbound.js';
import { runToEnd } from '../helpers/jobs.js';

/** Loopback listeners only: what each got, and a handler per test. */
async function listener(handler: http.RequestListener) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    hits,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const policy = (allow: string[], deny: string[] = [], internal: string[] = []) => new OutboundPolicy(parseAddressRules(allow).rules, parseAddressRules(deny).rules, parseAddressRules(internal).rules);

const rejectsWith = async (p: Promise<unknown>, kind: OutboundError['kind'], notIn?: string) => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OutboundError, String(err));
    assert.equal(err.kind, kind, err.message);
    if (notIn) assert.ok(!err.message.includes(notIn), `the error echoes the remote answer: ${err.message}`);
    return err;
  }
  assert.fail(`expected an OutboundError (${kind})`);
};

const METADATA = JSON.stringify({
  scanner: { name: 'StubScan', version: '1' },
  capabilities: [{ consumes_mime_types: ['application/vnd.oci.image.manifest.v1+json'], produces_mime_types: ['application/vnd.security.vulnerability.report; version=1.1'] }],
});

describe('security probes: the outbound client (policy, redirects, limits)', () => {
  it('refuses loopback, private, link-local and metadata addresses by default; explicit rules change that, deny wins', () => {
    const d = policy([]);
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254']) {
      assert.equal(d.decide(a, 80).ok, false, a);
    }
    assert.equal(d.decide('93.184.216.34', 443).ok, true, 'public addresses are allowed');
    const p = policy(['127.0.0.1', '10.0.0.0/8:8443'], ['127.0.0.1:5000'], ['127.0.0.0/8:8080']);
    assert.equal(p.decide('127.0.0.1', 9000).ok, true);
    assert.equal(p.decide('127.0.0.1', 5000).ok, false, 'a deny rule wins over an allow rule');
    assert.equal(p.decide('127.0.0.1', 8080).ok, false, 'Berth’s own listener is never allowed');
    assert.equal(p.decide('10.9.9.9', 8443).ok, true);
    assert.equal(p.decide('10.9.9.9', 80).ok, false, 'a rule with a port admits that port only');
    assert.equal(p.decide('127.0.0.2', 9000).ok, false);
    assert.deepEqual(parseAddressRules(['nonsense', '10.0.0.0/33', '[::1]:70000']).rules, []);
  });

  it('checks the resolved address of a name and connects to it; refuses literals and names alike', async () => {
    const l = await listener((_req, res) => res.end('hello'));
    try {
      const closed = new OutboundClient(() => policy([]));
      await rejectsWith(closed.request(`${l.url}/`), 'denied');
      await rejectsWith(closed.request(`http://localhost:${l.port}/`), 'denied');
      assert.deepEqual(l.hits, [], 'nothing reached the listener');
      const open = new OutboundClient(() => policy(['127.0.0.1']));
      assert.equal((await open.request(`http://localhost:${l.port}/x`)).text(), 'hello', 'localhost resolves, 127.0.0.1 is checked and used');
      assert.equal((await open.request(`${l.url}/y`)).status, 200);
      const denyPort = new OutboundClient(() => policy(['127.0.0.1'], [`127.0.0.1:${l.port}`]));
      await rejectsWith(denyPort.request(`${l.url}/z`), 'denied');
      await rejectsWith(open.request(`ftp://127.0.0.1:${l.port}/`), 'bad_url');
      await rejectsWith(open.request(`http://u:p@127.0.0.1:${l.port}/`), 'bad_url');
      assert.deepEqual(l.hits, ['GET /x', 'GET /y']);
    } finally {
      await l.close();
    }
  });

  it('never follows redirects, bounds the answer, times out, and never puts the answer in its errors', async () => {
    const target = await listener((_req, res) => res.end('target'));
    const l = await listener((req, res) => {
      if (req.url === '/redirect') res.writeHead(302, { location: `${target.url}/stolen` }).end();
      else if (req.url === '/big') res.end(Buffer.alloc(2 * 1024 * 1024, 'SECRET-BODY '));
      else if (req.url === '/chunked-big') {
        res.writeHead(200);
        for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024, 'SECRET-BODY '));
        res.end();
      } else if (req.url === '/hang') {
        /* never answers */
      } else res.writeHead(500).end('SECRET-BODY internal details');
    });
    try {
      const c = new OutboundClient(() => policy(['127.0.0.1']));
      const r = await c.request(`${l.url}/redirect`);
      assert.equal(r.status, 302);
      assert.deepEqual(target.hits, [], 'the redirect target was not called');
      await rejectsWith(c.request(`${l.url}/big`, { maxBytes: 1024 * 1024 }), 'too_large', 'SECRET');
      await rejectsWith(c.request(`${l.url}/chunked-big`, { maxBytes: 1024 * 1024 }), 'too_large', 'SECRET');
      await rejectsWith(c.request(`${l.url}/hang`, { timeoutMs: 200 }), 'timeout');
      assert.equal((await c.request(`${l.url}/err`)).status, 500);
    } finally {
      await l.close();
      await target.close();
    }
  });
});

for (const dialect of testDialects()) {
  describe(`security probes: outbound calls through REST, webhooks and feeds [${dialect}]`, () => {
    let t: TestApp;
    let adapter: Awaited<ReturnType<typeof listener>>;
    let projectAdmin: [string, string];
    before(async () => {
      t = await startTestApp(dialect);
      adapter = await listener((req, res) => {
        if (req.url === '/ok/api/v1/metadata') res.writeHead(200, { 'content-type': 'application/json' }).end(METADATA);
        else if (req.url === '/redirect/api/v1/metadata') res.writeHead(302, { location: '/ok/api/v1/metadata' }).end();
        else if (req.url === '/garbage/api/v1/metadata') res.writeHead(200).end('SECRET-BODY not json');
        else res.writeHead(500).end('SECRET-BODY internal details');
      });
      projectAdmin = await createUser(t, 'padmin', 'padmin-pw-1234');
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: projectAdmin, json: { name: 'mine' } })).status, 201);
    });
    after(async () => {
      await adapter?.close();
      await t?.close({ drop: true });
    });

    it('project admins cannot give Berth a URL; only system admins register scanner endpoints', async () => {
      const set = await t.req('/api/v1/projects/mine/scanner', { method: 'PUT', auth: projectAdmin, json: { url: `${adapter.url}/ok`, authorization: 'Bearer x' } });
      assert.equal(set.status, 403);
      assert.equal((await t.req('/api/v1/scanners', { method: 'POST', auth: projectAdmin, json: { name: 'evil', url: `${adapter.url}/ok` } })).status, 403);
      assert.equal((await t.req('/api/v1/system/scanner', { method: 'PUT', auth: projectAdmin, json: { url: `${adapter.url}/ok` } })).status, 403);
      assert.equal((await t.req('/api/v1/system/outbound-policy', { method: 'PUT', auth: projectAdmin, json: { allow: ['127.0.0.1'] } })).status, 403);
      assert.equal((await t.req('/api/v1/projects/mine/scanner', { method: 'PUT', auth: projectAdmin, json: { scanner: 'nope' } })).status, 404);
      assert.deepEqual(adapter.hits, [], 'Berth called nothing');
    });

    it('a system admin’s registration obeys the outbound policy (loopback refused until allowed; Berth’s own port always)', async () => {
      const refused = await t.req('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'stub', url: `${adapter.url}/ok` } });
      assert.equal(refused.status, 400);
      assert.match((await refused.json()).errors[0].message, /outbound policy/);
      assert.deepEqual(adapter.hits, []);
      assert.equal((await t.req('/api/v1/system/outbound-policy', { method: 'PUT', auth: ADMIN, json: { allow: ['not-an-ip'] } })).status, 400);
      const put = await t.req('/api/v1/system/outbound-policy', { method: 'PUT', auth: ADMIN, json: { allow: ['127.0.0.1'] } });
      assert.equal(put.status, 200);
      assert.deepEqual((await (await t.req('/api/v1/system/outbound-policy', { auth: ADMIN })).json()).allow, ['127.0.0.1']);
      const own = await t.req('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'self', url: `http://127.0.0.1:${t.config.port}/` } });
      assert.equal(own.status, 400);
      assert.match((await own.json()).errors[0].message, /Berth's own services/);
      const ok = await t.req('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'stub', url: `${adapter.url}/ok`, authorization: 'Bearer s3cret' } });
      assert.equal(ok.status, 201, await ok.clone().text());
      // Project admins see the names to pick from, never URLs or credentials.
      const list = await (await t.req('/api/v1/scanners', { auth: projectAdmin })).json();
      assert.deepEqual(list.items, [{ name: 'stub' }]);
      assert.equal((await t.req('/api/v1/projects/mine/scanner', { method: 'PUT', auth: projectAdmin, json: { scanner: 'stub' } })).status, 200);
      assert.equal((await (await t.req('/api/v1/projects/mine/scanner', { auth: projectAdmin })).json()).effective, 'stub');
    });

    it('errors never echo the remote answer, and redirects are not followed', async () => {
      const okHits = () => adapter.hits.filter((h) => h === 'GET /ok/api/v1/metadata').length;
      const before = okHits();
      for (const p of ['/fail', '/garbage', '/redirect']) {
        const res = await t.req('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'x', url: `${adapter.url}${p}` } });
        assert.equal(res.status, 400, p);
        const msg = (await res.json()).errors[0].message as string;
        assert.doesNotMatch(msg, /SECRET|internal details/, p);
      }
      assert.ok(adapter.hits.includes('GET /redirect/api/v1/metadata'));
      assert.equal(okHits(), before, 'the redirect was not followed');
    });

    it('project webhooks (set by project admins) obey the policy: no call to loopback or to Berth itself', async () => {
      await t.req('/api/v1/system/outbound-policy', { method: 'PUT', auth: ADMIN, json: { allow: [] } });
      const rx = await listener((_req, res) => res.writeHead(200).end('SECRET-BODY'));
      try {
        for (const url of [`${rx.url}/hook`, `http://127.0.0.1:${t.config.port}/metrics`, `http://localhost:${rx.port}/hook`]) {
          const created = await t.req('/api/v1/projects/mine/webhooks', { method: 'POST', auth: projectAdmin, json: { url, event_types: ['PUSH_ARTIFACT'] } });
          assert.equal(created.status, 201, await created.clone().text());
          const { id } = await created.json();
          const out = await (await t.req(`/api/v1/projects/mine/webhooks/${id}/test`, { method: 'POST', auth: projectAdmin })).json();
          assert.equal(out.delivered, false, url);
          assert.equal(out.status_code, null, url);
          assert.match(out.error, /refused/, url);
          assert.doesNotMatch(JSON.stringify(out), /SECRET/);
        }
        assert.deepEqual(rx.hits, []);
      } finally {
        await rx.close();
      }
    });

    it('job webhooks and advisory feeds go through the same policy', async () => {
      await t.req('/api/v1/system/outbound-policy', { method: 'PUT', auth: ADMIN, json: { allow: [] } });
      const hook = await listener((_req, res) => res.end('ok'));
      const feed = await listener((_req, res) => res.end('[]'));
      try {
        const warnings: string[] = [];
        const log = { warn: (_o: unknown, msg: string) => warnings.push(msg), info() {}, error() {}, debug() {} } as unknown as Logger;
        const hooks = new JobWebhooks(log, `${hook.url}/hook`, undefined, t.services.outbound.client, []);
        hooks.listener({
          job: { id: 1, type: 'echo', attempt: 1, error: null, createdAt: 0, startedAt: null, finishedAt: null, hookUrl: null },
          from: 'pending',
          to: 'running',
        } as unknown as JobEvent);
        await eventually(async () => warnings.includes('job webhook refused by the outbound policy'), 10_000);
        assert.deepEqual(hook.hits, []);
        const runner = new JobRunner(t.db, t.dialect, createLogger('silent'), { workerId: 'feed-probe', pollMs: 50, backoffBaseMs: 10 });
        runner.register(vulndbUpdateJob(t.services.advisories, [`${feed.url}/all.json`], t.services.outbound.client, t.config.dataDir));
        const job = await runToEnd(runner, 'vulndb-update', {});
        assert.equal(job.status, 'error');
        assert.match(job.error ?? '', /outbound policy/);
        assert.deepEqual(feed.hits, []);
      } finally {
        await hook.close();
        await feed.close();
      }
    });
  });
}
