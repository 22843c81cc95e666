import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/log.js';
import { JobWebhooks } from '../../src/jobs/hooks.js';
import { OutboundClient, OutboundPolicy, parseAddressRules } from '../../src/net/outbound.js';
import { JobRunner, PermanentError, type JobEvent, type JobType } from '../../src/jobs/runner.js';
import { Scheduler, previousRun } from '../../src/jobs/schedules.js';
import { ADMIN, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, testDialects } from '../helpers/db.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { eventually } from '../helpers/registry.js';

const silent = createLogger('silent');
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new Error(`aborted: ${String(signal.reason)}`));
    });
  });

for (const dialect of testDialects()) {
  describe(`job service [${dialect}]`, () => {
    let t: TestApp;
    let runner: JobRunner;
    const events: JobEvent[] = [];
    const calls = new Map<string, number>();
    const count = (k: string) => calls.set(k, (calls.get(k) ?? 0) + 1);

    const types: JobType<Record<string, unknown>>[] = [
      {
        name: 'echo',
        maxAttempts: 3,
        timeoutMs: 5000,
        concurrency: 2,
        async run(ctx) {
          await ctx.log('scan_not_applicable_reason', { reason: `hello ${String(ctx.payload.who)}` });
          await ctx.log('scan_all_finished', { count: 3 });
          await ctx.progress(50, 'layer', { done: 1, total: 2 });
          return { echoed: ctx.payload.who };
        },
      },
      {
        name: 'flaky',
        maxAttempts: 3,
        timeoutMs: 5000,
        concurrency: 1,
        async run(ctx) {
          count(`flaky:${ctx.id}`);
          if (ctx.attempt < Number(ctx.payload.succeedOn)) throw new Error(`attempt ${ctx.attempt} failed`);
          return 'ok';
        },
      },
      {
        name: 'broken',
        maxAttempts: 5,
        timeoutMs: 5000,
        concurrency: 1,
        async run() {
          throw new PermanentError('bad input: will never work');
        },
      },
      {
        name: 'slow',
        maxAttempts: 1,
        timeoutMs: Number(process.env.SLOW_TIMEOUT ?? 300),
        concurrency: 2,
        async run(ctx) {
          await sleep(Number(ctx.payload.ms ?? 10_000), ctx.signal);
          return 'done';
        },
      },
      {
        name: 'stoppable',
        maxAttempts: 1,
        timeoutMs: 60_000,
        concurrency: 2,
        async run(ctx) {
          await sleep(Number(ctx.payload.ms ?? 10_000), ctx.signal);
        },
      },
      {
        name: 'ordered',
        maxAttempts: 1,
        timeoutMs: 5000,
        concurrency: 1,
        async run(ctx) {
          count(`order:${String(ctx.payload.name)}`);
          (globalThis as { order?: string[] }).order?.push(String(ctx.payload.name));
          await sleep(20);
        },
      },
    ];

    before(async () => {
      t = await startTestApp(dialect);
      runner = new JobRunner(t.db, t.dialect, silent, { leaseMs: 1000, pollMs: 100, sweepMs: 200, backoffBaseMs: 50, workerId: 'w1' });
      for (const ty of types) runner.register(ty);
      runner.onChange((e) => void events.push(e));
      await runner.start();
    });
    after(async () => {
      await runner?.stop(2000);
      await t?.close({ drop: true });
    });

    /** The status changes listeners saw for a job, once they include `last` (listeners run after the DB write). */
    const seen = (id: number, last: string) =>
      eventually(async () => {
        const list = events.filter((e) => e.job.id === id).map((e) => e.to);
        return list.includes(last as never) ? list : null;
      });

    const waitFinal = (id: number, ms = 10_000) =>
      eventually(async () => {
        const j = await runner.get(id);
        return j && ['success', 'error', 'stopped'].includes(j.status) ? j : null;
      }, ms);

    it('runs a job through pending → scheduled → running → success, with log, progress and result', async () => {
      const { id, created } = await runner.enqueueStored('echo', { who: 'world' });
      assert.ok(created);
      const j = await waitFinal(id);
      assert.equal(j.status, 'success');
      assert.deepEqual(j.result, { echoed: 'world' });
      assert.equal(j.progress, 100);
      // The progress text is kept as a key with its parameters (the job center's languages) and in English (REST).
      assert.deepEqual([j.progressKey, j.progressParams, j.progressText], ['layer', { done: 1, total: 2 }, 'layer 1 of 2']);
      assert.deepEqual(await seen(id, 'success'), ['pending', 'scheduled', 'running', 'success']);
      const log = await runner.logLines(id, 0, 100);
      assert.deepEqual(
        log.map((l) => l.message),
        ['not scanned: hello world', 'all 3 scans finished'],
      );
    });

    it('retries with backoff in new attempts, then succeeds', async () => {
      const { id } = await runner.enqueueStored('flaky', { succeedOn: 3 });
      const j = await waitFinal(id);
      assert.equal(j.status, 'success');
      assert.equal(j.attempt, 3);
      assert.equal(calls.get(`flaky:${id}`), 3);
      const statuses = await seen(id, 'success');
      assert.deepEqual(statuses, ['pending', 'scheduled', 'running', 'pending', 'scheduled', 'running', 'pending', 'scheduled', 'running', 'success']);
    });

    it('fails for good after max attempts, with the reason', async () => {
      const { id } = await runner.enqueueStored('flaky', { succeedOn: 99 });
      const j = await waitFinal(id);
      assert.equal(j.status, 'error');
      assert.equal(j.attempt, 3);
      assert.match(j.error ?? '', /attempt 3 failed/);
    });

    it('fails at once on a permanent error', async () => {
      const { id } = await runner.enqueueStored('broken', {});
      const j = await waitFinal(id);
      assert.equal(j.status, 'error');
      assert.equal(j.attempt, 1);
      assert.match(j.error ?? '', /never work/);
    });

    it('times out through the AbortSignal', async () => {
      const { id } = await runner.enqueueStored('slow', { ms: 5000 });
      const j = await waitFinal(id);
      assert.equal(j.status, 'error');
      assert.match(j.error ?? '', /timed out after 300 ms/);
    });

    it('stops a pending job and a running one', async () => {
      const later = await runner.enqueueStored('slow', { ms: 100 }, { runAt: Date.now() + 60_000 });
      assert.equal(await runner.requestStop(later.id), 'stopped');
      const { id } = await runner.enqueueStored('stoppable', { ms: 5000 });
      await eventually(async () => (await runner.get(id))?.status === 'running');
      const [status] = await Promise.all([runner.requestStop(id)]);
      assert.equal(status, 'stopped');
      const j = (await runner.get(id))!;
      assert.equal(j.error, 'stopped on request');
      assert.equal(await runner.requestStop(id), 'stopped', 'stopping a finished job changes nothing');
    });

    it('stops a job running on another runner: it sees the request at its next heartbeat', async () => {
      runner.register({ ...types[3]!, name: 'remote-slow', timeoutMs: 60_000 });
      const { id } = await runner.enqueueStored('remote-slow', { ms: 20_000 });
      await eventually(async () => (await runner.get(id))?.status === 'running');
      const other = new JobRunner(t.db, t.dialect, silent, { workerId: 'elsewhere' });
      assert.equal(await other.requestStop(id), 'running', 'not local: the request is recorded');
      const j = await waitFinal(id, 5000);
      assert.equal(j.status, 'stopped');
    });

    it('de-duplicates on a unique key; a released key allows a new job after the first ends', async () => {
      const a = await runner.enqueueStored('echo', { who: 1 }, { uniqueKey: 'k1' });
      const b = await runner.enqueueStored('echo', { who: 2 }, { uniqueKey: 'k1' });
      assert.equal(b.id, a.id);
      assert.equal(b.created, false);
      await waitFinal(a.id);
      assert.equal((await runner.enqueueStored('echo', {}, { uniqueKey: 'k1' })).created, false, 'kept forever by default');
      const c = await runner.enqueueStored('echo', {}, { uniqueKey: 'scan:42', releaseKeyOnFinish: true });
      assert.equal((await runner.enqueueStored('echo', {}, { uniqueKey: 'scan:42', releaseKeyOnFinish: true })).id, c.id);
      await waitFinal(c.id);
      const d = await runner.enqueueStored('echo', {}, { uniqueKey: 'scan:42', releaseKeyOnFinish: true });
      assert.ok(d.created);
      assert.notEqual(d.id, c.id);
    });

    it('a stale or duplicate status write never moves a finished job back', async () => {
      const { id } = await runner.enqueueStored('echo', { who: 'x' });
      const j = await waitFinal(id);
      assert.equal(j.status, 'success');
      for (const to of ['running', 'error', 'stopped', 'scheduled'] as const) assert.equal(await runner.transition(id, j.attempt, to), false, to);
      assert.equal(await runner.transition(id, j.attempt - 1, 'error'), false);
      assert.equal(await runner.transition(id, j.attempt + 1, 'running'), false);
      assert.equal((await runner.get(id))!.status, 'success');
    });

    it('recovers an expired lease: retried while attempts remain, else failed with a reason', async () => {
      const db = t.db;
      const base = {
        priority: 0,
        unique_key: null,
        release_key: 0,
        failures: 0,
        run_at: 0,
        worker_id: 'dead-worker',
        stop_requested: 0,
        progress: 10,
        progress_text: null,
        error: null,
        result: null,
        hook_url: null,
        created_at: Date.now(),
        updated_at: Date.now(),
        started_at: Date.now(),
        finished_at: null,
      };
      const r1 = await db
        .insertInto('jobs')
        .values({ ...base, type: 'echo', status: 'running', payload: '{"who":"again"}', attempt: 1, max_attempts: 3, lease_until: Date.now() - 1000 })
        .executeTakeFirstOrThrow();
      const r2 = await db
        .insertInto('jobs')
        .values({ ...base, type: 'echo', status: 'running', payload: '{}', attempt: 2, failures: 1, max_attempts: 2, lease_until: Date.now() - 1000 })
        .executeTakeFirstOrThrow();
      const retried = await waitFinal(Number(r1.insertId));
      assert.equal(retried.status, 'success');
      assert.equal(retried.attempt, 2);
      const failed = await waitFinal(Number(r2.insertId));
      assert.equal(failed.status, 'error');
      assert.match(failed.error ?? '', /stopped answering \(lease expired\)/);
    });

    it('claims higher priority first', async () => {
      const order: string[] = [];
      (globalThis as { order?: string[] }).order = order;
      const blocker = await runner.enqueueStored('slow', { ms: 10 });
      await waitFinal(blocker.id);
      const ids: number[] = [];
      // enqueue with run_at in the future so none is claimed before all exist, then make them due together
      const at = Date.now() + 1500; // all due at once, however slowly a loaded machine enqueues them
      for (const n of ['low1', 'low2', 'low3']) ids.push((await runner.enqueueStored('ordered', { name: n }, { priority: 0, runAt: at })).id);
      ids.push((await runner.enqueueStored('ordered', { name: 'push-scan' }, { priority: 10, runAt: at })).id);
      for (const id of ids) await waitFinal(id);
      assert.equal(order[0], 'push-scan');
      assert.deepEqual(order.slice(1), ['low1', 'low2', 'low3']);
    });

    it('two runners on one database run each of 200 jobs exactly once', async () => {
      const conn2 = connectDatabase(t.config.database);
      const seen = new Map<number, string[]>();
      const make = (worker: string): JobType => ({
        name: 'once',
        maxAttempts: 1,
        timeoutMs: 5000,
        concurrency: 4,
        async run(ctx) {
          seen.set(ctx.id, [...(seen.get(ctx.id) ?? []), worker]);
          await sleep(1);
        },
      });
      const a = new JobRunner(t.db, t.dialect, silent, { workerId: 'a', pollMs: 20, leaseMs: 5000 });
      const b = new JobRunner(conn2.db, conn2.dialect, silent, { workerId: 'b', pollMs: 20, leaseMs: 5000 });
      a.register(make('a'));
      b.register(make('b'));
      const ids: number[] = [];
      for (let i = 0; i < 200; i++) ids.push((await a.enqueueStored('once', { i })).id);
      await Promise.all([a.start(), b.start()]);
      try {
        await eventually(async () => {
          const { n } = await t.db
            .selectFrom('jobs')
            .select((e) => e.fn.countAll<number>().as('n'))
            .where('type', '=', 'once')
            .where('status', '=', 'success')
            .executeTakeFirstOrThrow();
          return Number(n) === 200;
        }, 30_000);
      } finally {
        await a.stop(1000);
        await b.stop(1000);
        await conn2.close();
      }
      assert.equal(seen.size, 200);
      for (const id of ids) assert.equal(seen.get(id)?.length, 1, `job ${id} ran ${seen.get(id)?.length} times`);
      const workers = new Set([...seen.values()].flat());
      assert.equal(workers.size, 2, 'both runners took work');
    });

    it('a schedule fires once per tick across two replicas, with the fire time in the key', async () => {
      const s1 = new Scheduler(t.db, runner, silent, [{ name: 'tick', cron: '* * * * * *', jobType: 'echo' }]);
      const conn2 = connectDatabase(t.config.database);
      const r2 = new JobRunner(conn2.db, conn2.dialect, silent, { workerId: 'r2' });
      r2.register(types[0]!);
      const s2 = new Scheduler(conn2.db, r2, silent, [{ name: 'tick', cron: '* * * * * *', jobType: 'echo' }]);
      await s1.start();
      await s2.start();
      await sleep(3200);
      s1.stop();
      s2.stop();
      await conn2.close();
      const rows = await t.db.selectFrom('jobs').select(['unique_key']).where('unique_key', 'like', 'schedule:tick:%').execute();
      const keys = rows.map((r) => r.unique_key!);
      // At most one job per tick (3.2 s: up to 4 ticks), whatever a loaded machine does to the timers.
      assert.ok(keys.length >= 1 && keys.length <= 4, `${keys.length} fires in 3.2 s`);
      assert.equal(new Set(keys).size, keys.length);
      for (const k of keys) assert.match(k, /^schedule:tick:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    });

    it('runs a fire missed while down once at start', async () => {
      const s = new Scheduler(t.db, runner, silent, [{ name: 'nightly', cron: '0 3 * * *', jobType: 'echo' }]);
      await s.start(); // creates the row with last_fire_at = now: nothing to catch up
      s.stop();
      assert.equal((await t.db.selectFrom('jobs').select('id').where('unique_key', 'like', 'schedule:nightly:%').execute()).length, 0);
      await t.db
        .updateTable('schedules')
        .set({ last_fire_at: Date.now() - 3 * 86400_000 })
        .where('name', '=', 'nightly')
        .execute();
      await s.start();
      await s.start(); // a second start (another replica) must not add another
      s.stop();
      const rows = await t.db.selectFrom('jobs').select('unique_key').where('unique_key', 'like', 'schedule:nightly:%').execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.unique_key, `schedule:nightly:${new Date(previousRun('0 3 * * *', Date.now())!).toISOString()}`);
    });

    it('reports as last fired only a fire that enqueued a job, not creation or edits', async () => {
      const s = new Scheduler(t.db, runner, silent, [{ name: 'weekly', cron: '0 4 * * 1', jobType: 'echo' }]);
      await s.start();
      s.stop();
      assert.equal((await s.get('weekly'))!.lastRun, null, 'created: never fired');
      await s.update('weekly', { cron: '0 5 * * 1', enabled: true });
      assert.equal((await s.get('weekly'))!.lastRun, null, 'edited: still never fired');
      const fireTime = Date.now() - 60_000;
      await s.fire('weekly', fireTime);
      s.stop();
      const job = await t.db.selectFrom('jobs').select('id').where('unique_key', 'like', 'schedule:weekly:%').executeTakeFirstOrThrow();
      assert.deepEqual((await s.get('weekly'))!.lastRun, { at: fireTime, jobId: Number(job.id) });
      await s.update('weekly', { cron: '0 6 * * 1' });
      s.stop();
      assert.deepEqual((await s.get('weekly'))!.lastRun, { at: fireTime, jobId: Number(job.id) }, 'an edit keeps the last real fire');
    });

    it('posts signed webhooks for status changes', async () => {
      const got: { body: string; sig: string }[] = [];
      const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          got.push({ body, sig: String(req.headers['x-berth-signature']) });
          res.end('ok');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      // The receiver is on loopback, which the outbound policy refuses unless allowed.
      const http127 = new OutboundClient(() => new OutboundPolicy(parseAddressRules(['127.0.0.1']).rules, []));
      const hooks = new JobWebhooks(silent, undefined, 'webhook-secret-0123456789', http127);
      runner.onChange(hooks.listener);
      const { id } = await runner.enqueueStored('echo', { who: 'hook' }, { hookUrl: url });
      await waitFinal(id);
      await eventually(async () => got.some((g) => JSON.parse(g.body).status === 'success'));
      server.close();
      const statuses = got
        .map((g) => JSON.parse(g.body))
        .filter((b) => b.id === id)
        .map((b) => b.status);
      assert.ok(statuses.includes('running') && statuses.includes('success'));
      for (const g of got) assert.equal(g.sig, `sha256=${createHmac('sha256', 'webhook-secret-0123456789').update(g.body).digest('hex')}`);
      const last = JSON.parse(got.find((g) => JSON.parse(g.body).status === 'success')!.body);
      assert.equal(last.type, 'echo');
      assert.ok(last.created_at && last.started_at && last.finished_at);
    });

    it('trims history per type', async () => {
      const small = new JobRunner(t.db, t.dialect, silent, { workerId: 'trim', pollMs: 20 });
      small.register({ name: 'trimmed', maxAttempts: 1, timeoutMs: 1000, concurrency: 2, keepHistory: 5, run: async () => 'x' });
      await small.start();
      const ids: number[] = [];
      for (let i = 0; i < 12; i++) ids.push((await small.enqueueStored('trimmed', {})).id);
      await eventually(async () => (await Promise.all(ids.map((id) => small.get(id)))).every((j) => j?.status === 'success'));
      await small.sweep();
      await small.stop();
      const left = await t.db.selectFrom('jobs').select('id').where('type', '=', 'trimmed').orderBy('id').execute();
      assert.deepEqual(
        left.map((r) => Number(r.id)),
        ids.slice(-5),
      );
    });

    it('serves jobs, logs, stop and schedules over REST to system admins only', async () => {
      const jobs = t.services.jobs;
      jobs.register(types[0]!);
      // Its own type: the suite's runner also polls this database and must not take it.
      jobs.register({ ...types[3]!, name: 'api-slow', timeoutMs: 60_000 });
      await jobs.start();
      try {
        const { id } = await jobs.enqueueStored('echo', { who: 'api' });
        await eventually(async () => (await jobs.get(id))?.status === 'success');
        const list = await (await t.req('/api/v1/jobs?type=echo&limit=5', { auth: ADMIN })).json();
        assert.ok(list.items.length <= 5);
        assert.ok(list.items.every((j: { status: string }) => ['pending', 'scheduled', 'running', 'success', 'error', 'stopped'].includes(j.status)));
        const all = await (await t.req('/api/v1/jobs?limit=100', { auth: ADMIN })).json();
        assert.ok(all.items.every((j: { status: string }) => ['pending', 'scheduled', 'running', 'success', 'error', 'stopped'].includes(j.status)));
        const one = await (await t.req(`/api/v1/jobs/${id}`, { auth: ADMIN })).json();
        assert.equal(one.status, 'success');
        const log = await (await t.req(`/api/v1/jobs/${id}/log`, { auth: ADMIN })).json();
        assert.equal(log.items[0].message, 'not scanned: hello api');
        const text = await (await t.req(`/api/v1/jobs/${id}/log`, { auth: ADMIN, headers: { accept: 'text/plain' } })).text();
        assert.match(text, /\[info\] \(attempt 1\) not scanned: hello api/);
        assert.equal((await t.req('/api/v1/jobs?status=done', { auth: ADMIN })).status, 400);
        assert.equal((await t.req('/api/v1/jobs/999999', { auth: ADMIN })).status, 404);
        const slow = await jobs.enqueueStored('api-slow', { ms: 5000 });
        await eventually(async () => (await jobs.get(slow.id))?.status === 'running');
        const stopped = await t.req(`/api/v1/jobs/${slow.id}/stop`, { method: 'POST', auth: ADMIN });
        assert.equal(stopped.status, 200);
        assert.equal((await stopped.json()).status, 'stopped');
        const user = await createUser(t, 'jobless');
        assert.equal((await t.req('/api/v1/jobs', { auth: user })).status, 403);
        assert.equal((await t.req(`/api/v1/jobs/${id}/stop`, { method: 'POST', auth: user })).status, 403);
        assert.equal((await t.req('/api/v1/schedules', { auth: user })).status, 403);

        await t.services.scheduler.start();
        const sched = await (await t.req('/api/v1/schedules', { auth: ADMIN })).json();
        const rec = sched.items.find((s: { name: string }) => s.name === 'reconcile');
        assert.equal(rec.cron, '17 * * * *', 'the default: hourly');
        assert.equal(rec.job_type, 'reconcile');
        const put = await t.req('/api/v1/schedules/reconcile', { method: 'PUT', auth: ADMIN, json: { cron: '0 */2 * * *' } });
        assert.equal(put.status, 200);
        const s = await put.json();
        assert.equal(s.cron, '0 */2 * * *');
        assert.equal(s.next_runs.length, 3);
        assert.ok(s.next_runs.every((r: string) => new Date(r).getUTCMinutes() === 0 && new Date(r).getUTCHours() % 2 === 0));
        for (const bad of [{ cron: 'every day' }, { cron: '61 * * * *' }, { cron: '* * *' }, { enabled: 'no' }, { cron: '* * * * *', extra: 1 }]) {
          assert.equal((await t.req('/api/v1/schedules/reconcile', { method: 'PUT', auth: ADMIN, json: bad })).status, 400, JSON.stringify(bad));
        }
        assert.equal((await (await t.req('/api/v1/schedules/reconcile', { method: 'PUT', auth: ADMIN, json: { enabled: false } })).json()).enabled, false);
        assert.equal((await t.req('/api/v1/schedules/nope', { method: 'PUT', auth: ADMIN, json: { enabled: false } })).status, 404);
      } finally {
        t.services.scheduler.stop();
        await jobs.stop(1000);
      }
    });
  });
}

describe('job payloads are validated against their type', () => {
  it('enqueue refuses a payload that does not parse; a stored payload that no longer parses fails the job for good', async () => {
    const { z } = await import('zod');
    const db = await createTestDatabase('sqlite');
    const conn = connectDatabase(db.config);
    try {
      await migrateToLatest(conn.db);
      const runner = new JobRunner(conn.db, conn.dialect, createLogger('silent'), { pollMs: 20, sweepMs: 60_000 });
      const seen: unknown[] = [];
      runner.register<{ n: number }>({
        name: 'typed',
        payload: z.object({ n: z.number().int() }),
        maxAttempts: 3,
        timeoutMs: 10_000,
        concurrency: 1,
        async run(ctx) {
          seen.push(ctx.payload);
          return ctx.payload.n;
        },
      });
      await assert.rejects(runner.enqueueStored('typed', { n: 'x' }), /invalid typed job payload: n:/);
      const good = await runner.enqueueStored('typed', { n: 2, extra: true });
      const bad = await runner.enqueueStored('typed', { n: 3 });
      await conn.db.updateTable('jobs').set({ payload: '{"n":"three"}' }).where('id', '=', bad.id).execute();
      await runner.start();
      await runner.idle();
      await new Promise((r) => setTimeout(r, 100));
      await runner.idle();
      await runner.stop();
      assert.deepEqual(seen, [{ n: 2 }], 'unknown keys are dropped; the corrupted job never reaches run');
      const failed = await runner.get(bad.id);
      assert.equal(failed?.status, 'error');
      assert.match(failed?.error ?? '', /stored payload is not a valid typed payload/);
      assert.equal(failed?.attempt, 1, 'not retried');
      assert.equal((await runner.get(good.id))?.status, 'success');
    } finally {
      await conn.close();
      await db.drop();
    }
  });
});
