/** Running a job to its end and waiting for it, through the REST API or straight on a runner. */
import assert from 'node:assert/strict';
import type { JobTypeName, PayloadOf } from '../../src/jobs/payloads.js';
import type { Job, JobRunner } from '../../src/jobs/runner.js';
import { ADMIN } from './app.js';
import { eventually, type Instance } from './registry.js';

const ended = (status: string) => status === 'success' || status === 'error';

/** Polls `GET /api/v1/jobs/{id}` as admin until the job ends (success or error); its JSON. Throws after `timeoutMs`. */
// biome-ignore lint/suspicious/noExplicitAny: the API's job JSON, which callers read field by field
export async function jobEnded(b: Instance, id: number, timeoutMs = 60_000): Promise<any> {
  return eventually(async () => {
    const j = await (await b.api(`/api/v1/jobs/${id}`, { auth: ADMIN })).json();
    return ended(j.status) ? j : null;
  }, timeoutMs);
}

/** Starts garbage collection with `POST /api/v1/system/gc` (`body`: its options; asserts 202) and waits for it to end. */
export async function gcToEnd(b: Instance, body: Record<string, unknown>) {
  const res = await b.api('/api/v1/system/gc', { method: 'POST', auth: ADMIN, json: body });
  assert.equal(res.status, 202);
  const { id } = await res.json();
  return jobEnded(b, id);
}

/**
 * Runs one job on `runner` (its type registered, the runner not started): starts the runner, enqueues the job, waits
 * up to `timeoutMs` for it to end (success or error), stops the runner. The job as it ended.
 */
export async function runToEnd<T extends JobTypeName>(runner: JobRunner, type: T, payload: PayloadOf<T>, timeoutMs = 20_000): Promise<Job> {
  await runner.start();
  const { id } = await runner.enqueue(type, payload);
  const job = await eventually(async () => {
    const j = await runner.get(id);
    return j && ended(j.status) ? j : null;
  }, timeoutMs);
  await runner.stop();
  return job;
}
