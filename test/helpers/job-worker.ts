/**
 * A job-runner process for crash and multi-process tests: `node --import tsx test/helpers/job-worker.ts`.
 * Env: WORKER_ID, DB_DIALECT, DB_URL, OUT (a file each run appends lines to). Registers:
 * - `crashy`: logs "start", sleeps payload.ms (honouring the AbortSignal), logs "end";
 * - `fragile`: the same, but a single attempt;
 * - `record`: appends "<id> <worker>" and returns.
 */
import fs from 'node:fs';
import { connectDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/log.js';
import { JobRunner, type JobType } from '../../src/jobs/runner.js';

const worker = process.env.WORKER_ID ?? 'child';
const out = process.env.OUT!;
const conn = connectDatabase({ dialect: process.env.DB_DIALECT as 'sqlite' | 'mysql', url: process.env.DB_URL! });
const runner = new JobRunner(conn.db, conn.dialect, createLogger(process.env.BERTH_TEST_LOG ?? 'silent'), { workerId: worker, leaseMs: 1000, pollMs: 50, sweepMs: 300, backoffBaseMs: 50 });
const line = (s: string) => fs.appendFileSync(out, `${s}\n`);

const sleepy = (name: string, maxAttempts: number): JobType<{ ms: number }> => ({
  name,
  maxAttempts,
  timeoutMs: 60_000,
  concurrency: 2,
  async run(ctx) {
    line(`start ${ctx.id} ${ctx.attempt} ${worker}`);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ctx.payload.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      });
    });
    line(`end ${ctx.id} ${ctx.attempt} ${worker}`);
    return worker;
  },
});
runner.register(sleepy('crashy', 3));
runner.register(sleepy('fragile', 1));
runner.register({
  name: 'record',
  maxAttempts: 1,
  timeoutMs: 10_000,
  concurrency: 4,
  async run(ctx) {
    line(`${ctx.id} ${worker}`);
  },
});
await runner.start();
// The runner's timers are unref'd (in core the HTTP server keeps the process alive); here this does.
setInterval(() => undefined, 1 << 30);
line(`ready ${worker}`);
process.on('SIGTERM', () => {
  void runner.stop(2000).then(async () => {
    await conn.close();
    process.exit(0);
  });
});
