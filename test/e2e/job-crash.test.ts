import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { eventually } from '../helpers/registry.js';

for (const dialect of testDialects()) {
  describe(`job service across processes [${dialect}]`, () => {
    let t: TestApp;
    let queue: JobRunner;
    let out: string;
    const children: ChildProcess[] = [];

    const spawnWorker = async (id: string) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/job-worker.ts'], {
        env: { ...process.env, WORKER_ID: id, DB_DIALECT: t.config.database.dialect, DB_URL: t.config.database.url, OUT: out },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      await eventually(async () => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes(`ready ${id}`), 20_000);
      return child;
    };
    const lines = () => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim().split('\n') : []);
    const job = (id: number) => queue.get(id);

    before(async () => {
      t = await startTestApp(dialect);
      out = path.join(t.config.dataDir, 'runs.txt');
      // Enqueues only; the child processes run the jobs.
      queue = new JobRunner(t.db, t.dialect, createLogger('silent'));
      for (const name of ['crashy', 'fragile']) queue.register({ name, maxAttempts: name === 'crashy' ? 3 : 1, timeoutMs: 60_000, concurrency: 1, run: async () => undefined });
      queue.register({ name: 'record', maxAttempts: 1, timeoutMs: 10_000, concurrency: 1, run: async () => undefined });
    });
    after(async () => {
      for (const c of children) c.kill('SIGKILL');
      await t?.close({ drop: true });
    });

    it('after kill -9 during a running job, a new process retries it to success, or fails it with a reason', async () => {
      const a = await spawnWorker('A');
      const retried = await queue.enqueueStored('crashy', { ms: 3000 });
      const single = await queue.enqueueStored('fragile', { ms: 3000 });
      await eventually(async () => (await job(retried.id))?.status === 'running' && (await job(single.id))?.status === 'running', 15_000);
      a.kill('SIGKILL');
      await new Promise((r) => a.once('exit', r));
      await spawnWorker('B');
      const done = await eventually(async () => {
        const j = await job(retried.id);
        return j?.status === 'success' ? j : null;
      }, 20_000);
      assert.equal(done.attempt, 2);
      assert.equal(done.result, 'B');
      const failed = await eventually(async () => {
        const j = await job(single.id);
        return j?.status === 'error' ? j : null;
      }, 20_000);
      assert.match(failed.error ?? '', /lease expired/);
      const runs = lines().filter((l) => new RegExp(`^(start|end) ${retried.id} `).test(l));
      assert.deepEqual(runs, [`start ${retried.id} 1 A`, `start ${retried.id} 2 B`, `end ${retried.id} 2 B`]);
      const log = await queue.logLines(retried.id, 0, 50);
      assert.ok(log.some((l) => /stopped answering/.test(l.message)));
      const stuck = await t.db.selectFrom('jobs').select('id').where('status', 'in', ['pending', 'scheduled', 'running']).execute();
      assert.deepEqual(stuck, []);
    });

    it('two processes on one database run each of 200 jobs exactly once', async () => {
      await spawnWorker('C');
      const ids: number[] = [];
      for (let i = 0; i < 200; i++) ids.push((await queue.enqueueStored('record', { i })).id);
      await eventually(async () => {
        const { n } = await t.db
          .selectFrom('jobs')
          .select((e) => e.fn.countAll<number>().as('n'))
          .where('type', '=', 'record')
          .where('status', '=', 'success')
          .executeTakeFirstOrThrow();
        return Number(n) === 200;
      }, 60_000);
      const ran = lines().filter((l) => /^\d+ [A-Z]$/.test(l));
      const byId = new Map<number, string[]>();
      for (const l of ran) {
        const [id, w] = l.split(' ');
        byId.set(Number(id), [...(byId.get(Number(id)) ?? []), w!]);
      }
      for (const id of ids) assert.equal(byId.get(id)?.length, 1, `job ${id} ran ${byId.get(id)?.length ?? 0} times`);
      assert.equal(new Set(ran.map((l) => l.split(' ')[1])).size, 2, 'both processes took work');
    });
  });
}
