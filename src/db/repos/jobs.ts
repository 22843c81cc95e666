import type { Selectable, Updateable } from 'kysely';
import { FINAL_STATES, NEW_ATTEMPT_FROM, OPEN_STATES, type JobStatus } from '../../jobs/states.js';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import type { JobsTable } from '../tables.js';

/**
 * The job service's queries, one function per operation (the layout of graphile/worker's src/sql/). Every status
 * write is conditional on the job's current status and attempt, and returns whether it happened: the caller never
 * assumes a write landed. The runner (src/jobs/runner.ts) owns the state machine; this module only talks SQL.
 */

type JobRow = Selectable<JobsTable>;
export type JobPatch = Omit<Updateable<JobsTable>, 'id'>;
export type NewJob = Omit<Selectable<JobsTable>, 'id' | 'progress_key' | 'progress_params'> & Partial<Pick<Selectable<JobsTable>, 'progress_key' | 'progress_params'>>;

export interface Job {
  id: number;
  type: string;
  status: JobStatus;
  priority: number;
  uniqueKey: string | null;
  payload: unknown;
  attempt: number;
  failures: number;
  maxAttempts: number;
  runAt: number;
  progress: number;
  progressText: string | null;
  /** `progressText` as a `jobprogress.*` key and its parameters, for the UI's languages (null: show the text) */
  progressKey: string | null;
  progressParams: Record<string, string | number> | null;
  error: string | null;
  result: unknown;
  workerId: string | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  hookUrl: string | null;
}

const parse = (s: string | null): unknown => {
  if (s === null) return null;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

export const toJob = (r: JobRow): Job => ({
  id: Number(r.id),
  type: r.type,
  status: r.status as JobStatus,
  priority: Number(r.priority),
  uniqueKey: r.unique_key,
  payload: parse(r.payload),
  attempt: Number(r.attempt),
  failures: Number(r.failures),
  maxAttempts: Number(r.max_attempts),
  runAt: Number(r.run_at),
  progress: Number(r.progress),
  progressText: r.progress_text,
  progressKey: r.progress_key ?? null,
  progressParams: r.progress_key ? ((parse(r.progress_params) as Record<string, string | number> | null) ?? null) : null,
  error: r.error,
  result: parse(r.result),
  workerId: r.worker_id,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  startedAt: r.started_at === null ? null : Number(r.started_at),
  finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  hookUrl: r.hook_url,
});

/** Retries an InnoDB deadlock victim (errno 1213) a few times; the other transaction has made progress. */
export async function retryDeadlock<T>(fn: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { errno?: number }).errno !== 1213 || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}

export async function findJobIdByKey(db: DB, uniqueKey: string): Promise<number | undefined> {
  const r = await db.selectFrom('jobs').select('id').where('unique_key', '=', uniqueKey).executeTakeFirst();
  return r ? Number(r.id) : undefined;
}

/** Inserts a job row; a duplicate `unique_key` throws the driver's unique violation. */
export async function insertJob(db: DB, row: NewJob): Promise<number> {
  const res = await retryDeadlock(() => db.insertInto('jobs').values(row).executeTakeFirstOrThrow());
  return Number(res.insertId);
}

export async function findJob(db: DB, id: number): Promise<Job | undefined> {
  const r = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toJob(r);
}

/** Newest first, keyset on id. */
export async function listJobs(db: DB, f: { type?: string; status?: string; page: PageRequest }): Promise<KeysetPage<Job>> {
  let q = db.selectFrom('jobs');
  if (f.type) q = q.where('type', '=', f.type);
  if (f.status) q = q.where('status', '=', f.status);
  const page = await keysetPage(
    db,
    q,
    SORTS.newestFirst,
    f.page,
    (qb) => qb.selectAll(),
    (r) => [Number(r.id)],
  );
  return { ...page, items: page.items.map(toJob) };
}

export async function countActiveJobs(db: DB): Promise<number> {
  const { n } = await db
    .selectFrom('jobs')
    .select((e) => e.fn.countAll<number>().as('n'))
    .where('status', 'in', OPEN_STATES)
    .executeTakeFirstOrThrow();
  return Number(n);
}

export async function listJobLogs(db: DB, jobId: number, afterId: number, limit: number) {
  const rows = await db.selectFrom('job_logs').selectAll().where('job_id', '=', jobId).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: Number(r.id), at: Number(r.at), level: r.level, attempt: Number(r.attempt), message: r.message, key: r.message_key, params: parseParams(r.message_params) }));
}

/** A stored parameter object, or null when absent or unreadable (a hand-edited row). */
function parseParams(text: string | null): Record<string, string | number> | null {
  if (!text) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string | number>) : null;
  } catch {
    return null;
  }
}

/**
 * Appends a log line unless the job already has `maxLines`: `message` its English text (cut at 2000 characters), `key`
 * and `params` the `joblog.*` message key and its parameters (null for a text kept as it is).
 */
export async function appendJobLog(
  db: DB,
  line: { jobId: number; attempt: number; level: string; message: string; key: string | null; params: Record<string, string | number> | null; maxLines: number },
): Promise<void> {
  const { n } = await db
    .selectFrom('job_logs')
    .select((e) => e.fn.countAll<number>().as('n'))
    .where('job_id', '=', line.jobId)
    .executeTakeFirstOrThrow();
  if (Number(n) >= line.maxLines) return;
  await db
    .insertInto('job_logs')
    .values({
      job_id: line.jobId,
      attempt: line.attempt,
      at: Date.now(),
      level: line.level.slice(0, 8),
      message: line.message.slice(0, 2000),
      message_key: line.key,
      message_params: line.params ? JSON.stringify(line.params) : null,
    })
    .execute();
}

/** Due pending jobs of a type, highest priority first, oldest first within a priority. */
const dueJobs = (db: DB, type: string, now: number, n: number) =>
  db.selectFrom('jobs').select(['id', 'attempt']).where('type', '=', type).where('status', '=', 'pending').where('run_at', '<=', now).orderBy('priority', 'desc').orderBy('id').limit(n);

/**
 * Claims up to n due pending jobs of a type for `workerId`: pending → scheduled with a lease. On MySQL one READ
 * COMMITTED transaction with `FOR UPDATE SKIP LOCKED` (no gap locks, so concurrent enqueues do not deadlock); on
 * SQLite, which has one writer, a conditional UPDATE per row.
 */
export async function claimDueJobs(db: DB, dialect: 'sqlite' | 'mysql', f: { type: string; n: number; workerId: string; leaseUntil: number; now: number }): Promise<{ id: number; attempt: number }[]> {
  const set = { status: 'scheduled', worker_id: f.workerId, lease_until: f.leaseUntil, updated_at: f.now } as const;
  if (dialect === 'mysql') {
    return retryDeadlock(() =>
      db
        .transaction()
        .setIsolationLevel('read committed')
        .execute(async (trx) => {
          const rows = await dueJobs(trx, f.type, f.now, f.n).forUpdate().skipLocked().execute();
          if (!rows.length) return [];
          await trx
            .updateTable('jobs')
            .set(set)
            .where(
              'id',
              'in',
              rows.map((r) => r.id),
            )
            .where('status', '=', 'pending')
            .execute();
          return rows.map((r) => ({ id: Number(r.id), attempt: Number(r.attempt) }));
        }),
    );
  }
  const rows = await dueJobs(db, f.type, f.now, f.n).execute();
  const out: { id: number; attempt: number }[] = [];
  for (const r of rows) {
    const res = await db.updateTable('jobs').set(set).where('id', '=', r.id).where('attempt', '=', r.attempt).where('status', '=', 'pending').executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) out.push({ id: Number(r.id), attempt: Number(r.attempt) });
  }
  return out;
}

export async function findJobStatus(db: DB, id: number, attempt: number): Promise<JobStatus | undefined> {
  const r = await db.selectFrom('jobs').select('status').where('id', '=', id).where('attempt', '=', attempt).executeTakeFirst();
  return r?.status as JobStatus | undefined;
}

/**
 * Moves job `id` of `attempt` to `to`, only from one of the `from` states (and, for a worker's own writes, only while
 * it holds the job). Returns whether the row changed.
 */
export async function updateJobStatus(db: DB, w: { id: number; attempt: number; from: readonly JobStatus[]; to: JobStatus; patch: JobPatch; workerId?: string }): Promise<boolean> {
  let q = db
    .updateTable('jobs')
    .set({ ...w.patch, status: w.to, updated_at: Date.now() })
    .where('id', '=', w.id)
    .where('attempt', '=', w.attempt)
    .where('status', 'in', [...w.from]);
  if (w.workerId !== undefined) q = q.where('worker_id', '=', w.workerId);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Frees a finished job's unique key when it was enqueued with "release the key on finish". */
export async function releaseJobKey(db: DB, id: number): Promise<void> {
  await db.updateTable('jobs').set({ unique_key: null }).where('id', '=', id).where('release_key', '=', 1).execute();
}

/** Starts attempt+1 (pending again) from `from`, clearing the worker's claim. */
export async function restartJob(db: DB, w: { id: number; attempt: number; from: JobStatus; patch: JobPatch }): Promise<boolean> {
  const res = await db
    .updateTable('jobs')
    .set({
      ...w.patch,
      status: 'pending',
      attempt: w.attempt + 1,
      worker_id: null,
      lease_until: null,
      stop_requested: 0,
      progress: 0,
      progress_text: null,
      progress_key: null,
      progress_params: null,
      updated_at: Date.now(),
    })
    .where('id', '=', w.id)
    .where('attempt', '=', w.attempt)
    .where('status', '=', w.from)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function requestJobStop(db: DB, id: number): Promise<void> {
  await db.updateTable('jobs').set({ stop_requested: 1, updated_at: Date.now() }).where('id', '=', id).where('status', '=', 'running').execute();
}

/** Progress of a running attempt (0–100 and a short text). */
export async function updateJobProgress(
  db: DB,
  id: number,
  attempt: number,
  percent: number,
  text: string | null,
  keyed: { key: string; params: Record<string, string | number> } | null = null,
): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ progress: percent, progress_text: text, progress_key: keyed?.key ?? null, progress_params: keyed ? JSON.stringify(keyed.params) : null, updated_at: Date.now() })
    .where('id', '=', id)
    .where('attempt', '=', attempt)
    .where('status', '=', 'running')
    .execute();
}

/** Renews a running attempt's lease; false when the worker no longer holds it. */
export async function renewJobLease(db: DB, id: number, attempt: number, workerId: string, leaseUntil: number): Promise<boolean> {
  const res = await db
    .updateTable('jobs')
    .set({ lease_until: leaseUntil })
    .where('id', '=', id)
    .where('attempt', '=', attempt)
    .where('status', '=', 'running')
    .where('worker_id', '=', workerId)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function isStopRequested(db: DB, id: number): Promise<boolean> {
  const row = await db.selectFrom('jobs').select('stop_requested').where('id', '=', id).executeTakeFirst();
  return !!row && !!Number(row.stop_requested);
}

/** Claimed or running jobs whose lease ran out (at most 500). */
export async function findExpiredLeases(db: DB, now: number): Promise<Job[]> {
  const rows = await db.selectFrom('jobs').selectAll().where('status', 'in', NEW_ATTEMPT_FROM).where('lease_until', '<', now).limit(500).execute();
  return rows.map(toJob);
}

/** Fails a running attempt whose lease expired, if it still has; the sweep's last word on a dead worker. */
export async function failExpiredJob(db: DB, w: { id: number; attempt: number; error: string; failures: number; now: number }): Promise<boolean> {
  const res = await db
    .updateTable('jobs')
    .set({ status: 'error', error: w.error, failures: w.failures, finished_at: w.now, lease_until: null, updated_at: w.now })
    .where('id', '=', w.id)
    .where('attempt', '=', w.attempt)
    .where('status', '=', 'running')
    .where('lease_until', '<', w.now)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Deletes a type's finished jobs beyond the newest `keep`. */
export async function trimJobHistory(db: DB, type: string, keep: number): Promise<void> {
  const finished = [...FINAL_STATES];
  const cutoff = await db.selectFrom('jobs').select('id').where('type', '=', type).where('status', 'in', finished).orderBy('id', 'desc').offset(keep).limit(1).executeTakeFirst();
  if (cutoff) await db.deleteFrom('jobs').where('type', '=', type).where('status', 'in', finished).where('id', '<=', cutoff.id).execute();
}

/** How many jobs there are per type and status. */
export async function countJobsByTypeAndStatus(db: DB): Promise<{ type: string; status: string; count: number }[]> {
  const rows = await db
    .selectFrom('jobs')
    .select(['type', 'status', (e) => e.fn.countAll<number>().as('n')])
    .groupBy(['type', 'status'])
    .execute();
  return rows.map((r) => ({ type: r.type, status: r.status, count: Number(r.n) }));
}
