import { randomBytes } from 'node:crypto';
import os from 'node:os';
import PQueue from 'p-queue';
import type { z } from 'zod';
import type { DB, Dialect } from '../db/connect.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import * as repo from '../db/repos/jobs.js';
import type { Job, JobPatch } from '../db/repos/jobs.js';
import { isUniqueViolation } from '../errors.js';
import { createI18n } from '../i18n/index.js';
import type { JobLogKey, JobLogParams, JobProgressKey } from '../i18n/job-log.js';
import type { Logger } from '../log.js';
import type { EnqueueOptions, JobQueue } from './queue.js';
import type { JobTypeName, PayloadOf } from './payloads.js';
import { backoffMs, FINAL_STATES, predecessors, type JobStatus } from './states.js';

export type { Job } from '../db/repos/jobs.js';
export { toJob } from '../db/repos/jobs.js';

export interface JobContext<P = unknown> {
  id: number;
  type: string;
  payload: P;
  attempt: number;
  /** aborted on stop, timeout, shutdown, or a lost lease: long work must check it */
  signal: AbortSignal;
  /**
   * Appends a log line: a `joblog.*` message key with its parameters, shown in the viewer's language in the job
   * center; the English text is stored beside it for the REST API.
   */
  log(key: JobLogKey, params?: JobLogParams, level?: 'info' | 'warn' | 'error'): Promise<void>;
  /**
   * 0–100, with an optional short text as a `jobprogress.*` key and its parameters (shown in the viewer's language;
   * the English text is stored beside it for the REST API); writes are throttled
   */
  progress(percent: number, key?: JobProgressKey, params?: JobLogParams): Promise<void>;
  enqueue: JobQueue['enqueue'];
}

export interface JobType<P = unknown> {
  name: string;
  maxAttempts: number;
  timeoutMs: number;
  concurrency: number;
  /** default priority of this type's jobs (higher is claimed first) */
  priority?: number;
  /** finished jobs of this type kept in history */
  keepHistory?: number;
  /**
   * The payload's shape: `enqueue` refuses a payload that does not parse, and a stored payload that no longer
   * parses (an older release's, a hand-edited row) fails the job for good instead of reaching `run`.
   */
  payload?: z.ZodType<P>;
  /** first retry delay of this type (doubling per failure, capped); the runner's default otherwise */
  backoffBaseMs?: number;
  run(ctx: JobContext<P>): Promise<unknown>;
}

/** A failure that retrying cannot fix: the job fails at once. */
export class PermanentError extends Error {}

/** A log line to store: a message key and its parameters, or (a thrown error's own words) text kept as it is. */
export type LogLine = { key: JobLogKey; params?: JobLogParams } | { text: string };

// The English text stored with each keyed line (for the REST API and anything reading `message`).
const english = createI18n().getFixedT('en');

/**
 * A failure a job type describes with a `joblog.*` key: its log line is shown in the viewer's language, its
 * `message` (the job's `error`) is the English text. `permanent` fails the job at once, as PermanentError does.
 */
export class KeyedFailure extends Error {
  constructor(
    readonly key: JobLogKey,
    readonly params: JobLogParams = {},
    readonly permanent = false,
  ) {
    super(english(`joblog.${key}`, params));
  }
}

export interface JobEvent {
  job: Job;
  from: JobStatus | null;
  to: JobStatus;
}

type AbortReason = 'stopped' | 'timeout' | 'shutdown' | 'lease-lost';

interface Running {
  controller: AbortController;
  attempt: number;
  done: Promise<void>;
}

export interface RunnerOptions {
  workerId?: string;
  leaseMs?: number;
  pollMs?: number;
  sweepMs?: number;
  /** cap on log lines stored per job */
  maxLogLines?: number;
  /** first retry delay; doubles per failure up to 5 minutes */
  backoffBaseMs?: number;
}

/**
 * The job runner. The DB row is the truth: claims are conditional UPDATEs (with SKIP LOCKED on MySQL), every status
 * write is guarded by the attempt and the states it may come from, running jobs hold a lease renewed by heartbeat,
 * and a sweep recovers expired leases. p-queue only bounds concurrency per type inside this process.
 */
export class JobRunner implements JobQueue {
  readonly workerId: string;
  private readonly types = new Map<string, JobType>();
  private readonly queues = new Map<string, PQueue>();
  private readonly running = new Map<number, Running>();
  private readonly listeners: ((e: JobEvent) => void | Promise<void>)[] = [];
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly sweepMs: number;
  private readonly maxLogLines: number;
  private readonly backoffBaseMs: number;
  private pollTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private claiming = false;
  private claimAgain = false;
  private stopped = true;

  constructor(
    private readonly db: DB,
    private readonly dialect: Dialect,
    private readonly log: Logger,
    opts: RunnerOptions = {},
  ) {
    this.workerId = opts.workerId ?? `${os.hostname().slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 1000;
    this.sweepMs = opts.sweepMs ?? 15_000;
    this.maxLogLines = opts.maxLogLines ?? 5000;
    this.backoffBaseMs = opts.backoffBaseMs ?? 2000;
  }

  register<P>(type: JobType<P>): void {
    this.types.set(type.name, type as JobType);
    this.queues.set(type.name, new PQueue({ concurrency: type.concurrency }));
  }

  registeredTypes(): string[] {
    return [...this.types.keys()];
  }

  /** In-process listener for every status change (e.g. a finished scan updates the artifact's summary). */
  onChange(fn: (e: JobEvent) => void | Promise<void>): void {
    this.listeners.push(fn);
  }

  enqueue<T extends JobTypeName>(type: T, payload: PayloadOf<T>, opts: EnqueueOptions = {}): Promise<{ id: number; created: boolean }> {
    return this.enqueueStored(type, payload, opts);
  }

  async enqueueStored(type: string, payload: unknown, opts: EnqueueOptions = {}): Promise<{ id: number; created: boolean }> {
    const t = this.types.get(type);
    if (!t) throw new Error(`unknown job type ${type}`);
    if (t.payload) {
      const parsed = t.payload.safeParse(payload ?? {});
      if (!parsed.success) throw new Error(`invalid ${type} job payload: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`);
      payload = parsed.data;
    }
    const now = Date.now();
    const key = opts.uniqueKey?.slice(0, 255);
    if (key) {
      const existing = await repo.findJobIdByKey(this.db, key);
      if (existing !== undefined) return { id: existing, created: false };
    }
    try {
      const id = await repo.insertJob(this.db, {
        type,
        status: 'pending',
        priority: opts.priority ?? t.priority ?? 0,
        unique_key: key ?? null,
        release_key: opts.releaseKeyOnFinish ? 1 : 0,
        payload: JSON.stringify(payload ?? null),
        attempt: 1,
        failures: 0,
        max_attempts: t.maxAttempts,
        run_at: opts.runAt ?? now,
        lease_until: null,
        worker_id: null,
        stop_requested: 0,
        progress: 0,
        progress_text: null,
        error: null,
        result: null,
        hook_url: opts.hookUrl ?? null,
        created_at: now,
        updated_at: now,
        started_at: null,
        finished_at: null,
      });
      await this.emit(id, null, 'pending');
      if ((opts.runAt ?? now) <= now) this.kick();
      return { id, created: true };
    } catch (err) {
      if (key && isUniqueViolation(err)) {
        const existing = await repo.findJobIdByKey(this.db, key);
        if (existing !== undefined) return { id: existing, created: false };
      }
      throw err;
    }
  }

  /** Jobs not finished yet (pending, scheduled, running), of every type. */
  countActive(): Promise<number> {
    return repo.countActiveJobs(this.db);
  }

  get(id: number): Promise<Job | undefined> {
    return repo.findJob(this.db, id);
  }

  /** The newest `limit` jobs. */
  async list(f: { type?: string; status?: string; limit: number }): Promise<Job[]> {
    return (await repo.listJobs(this.db, { type: f.type, status: f.status, page: { limit: f.limit } })).items;
  }

  /** Newest first, one keyset page. */
  listPage(f: { type?: string; status?: string; page: PageRequest }): Promise<KeysetPage<Job>> {
    return repo.listJobs(this.db, f);
  }

  logLines(jobId: number, afterId: number, limit: number) {
    return repo.listJobLogs(this.db, jobId, afterId, limit);
  }

  /** Starts claiming; recovers expired leases first. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.sweep();
    this.pollTimer = setInterval(() => this.kick(), this.pollMs);
    this.pollTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep().catch((err) => this.log.error({ err }, 'job sweep failed')), this.sweepMs);
    this.sweepTimer.unref();
    this.kick();
  }

  /** Stops claiming, aborts running jobs, waits (bounded), and releases what did not finish for another worker. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const r of this.running.values()) r.controller.abort('shutdown' satisfies AbortReason);
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    for (const q of this.queues.values()) q.clear();
  }

  /**
   * Stops a job: a pending or scheduled one at once; a running one through its AbortSignal (here, or on the replica
   * running it, which sees the request at its next heartbeat). Returns the job's status after the request.
   */
  async requestStop(id: number): Promise<JobStatus | null> {
    const job = await this.get(id);
    if (!job) return null;
    if (FINAL_STATES.has(job.status)) return job.status;
    if (job.status === 'pending' || job.status === 'scheduled') {
      if (await this.transition(job.id, job.attempt, 'stopped', { finished_at: Date.now(), error: 'stopped before it ran' })) return 'stopped';
      return this.requestStop(id); // it moved on meanwhile: try again from its new state
    }
    await repo.requestJobStop(this.db, id);
    const local = this.running.get(id);
    if (local) {
      local.controller.abort('stopped' satisfies AbortReason);
      await local.done;
    }
    return (await this.get(id))?.status ?? null;
  }

  /** Resolves once nothing is running or claimable right now in this process (tests, shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      await Promise.all([...this.queues.values()].map((q) => q.onIdle()));
      if (this.running.size === 0 && !this.claiming) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Asks for a claim round soon (after an enqueue, a finished job, or the poll timer). */
  kick(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    void this.claimRound()
      .catch((err) => this.log.error({ err }, 'job claim failed'))
      .finally(() => {
        this.claiming = false;
        if (this.claimAgain) {
          this.claimAgain = false;
          this.kick();
        }
      });
  }

  private async claimRound(): Promise<void> {
    for (const [name, type] of this.types) {
      const q = this.queues.get(name)!;
      const free = type.concurrency - q.size - q.pending;
      if (free <= 0 || this.stopped) continue;
      const claimed = await this.claim(name, free);
      for (const job of claimed) await this.emit(job.id, 'pending', 'scheduled');
      for (const job of claimed) void q.add(() => this.execute(type, job)).catch((err) => this.log.error({ err, id: job.id }, 'job crashed the runner'));
    }
  }

  /** Claims up to n due pending jobs of a type: pending → scheduled, conditionally, highest priority first. */
  private claim(type: string, n: number): Promise<{ id: number; attempt: number }[]> {
    const now = Date.now();
    return repo.claimDueJobs(this.db, this.dialect, { type, n, workerId: this.workerId, leaseUntil: now + this.leaseMs, now });
  }

  /**
   * The one guarded status write: moves job `id` of `attempt` to `to` only from a state allowed to precede it.
   * Returns whether it happened (a late or duplicate writer gets false and changes nothing).
   */
  async transition(id: number, attempt: number, to: JobStatus, extra: JobPatch = {}, opts: { worker?: boolean } = {}): Promise<boolean> {
    const before = await repo.findJobStatus(this.db, id, attempt);
    const patch: JobPatch = { ...extra, ...(FINAL_STATES.has(to) ? { lease_until: null } : {}) };
    if (!(await repo.updateJobStatus(this.db, { id, attempt, from: predecessors(to), to, patch, workerId: opts.worker ? this.workerId : undefined }))) return false;
    if (FINAL_STATES.has(to)) await repo.releaseJobKey(this.db, id);
    await this.emit(id, before ?? null, to);
    return true;
  }

  /** Starts a new attempt (pending again), from a run that failed, a claim released, or a lease lost. */
  private async newAttempt(id: number, attempt: number, from: JobStatus, patch: JobPatch): Promise<boolean> {
    if (!(await repo.restartJob(this.db, { id, attempt, from, patch }))) return false;
    await this.emit(id, from, 'pending');
    return true;
  }

  private async execute(type: JobType, claimed: { id: number; attempt: number }): Promise<void> {
    const { id, attempt } = claimed;
    if (this.stopped) {
      await this.newAttempt(id, attempt, 'scheduled', {}); // release the claim for another worker
      return;
    }
    const controller = new AbortController();
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.running.set(id, { controller, attempt, done });
    const heartbeat = setInterval(() => void this.heartbeat(id, attempt, controller), Math.max(200, Math.floor(this.leaseMs / 3)));
    const timeout = setTimeout(() => controller.abort('timeout' satisfies AbortReason), type.timeoutMs);
    try {
      const now = Date.now();
      if (!(await this.transition(id, attempt, 'running', { started_at: now, lease_until: now + this.leaseMs }, { worker: true }))) return;
      const row = (await this.get(id))!;
      let outcome: { ok: true; result: unknown } | { ok: false; err: unknown };
      try {
        if (type.payload) {
          const parsed = type.payload.safeParse(row.payload ?? {});
          if (!parsed.success) throw new PermanentError(`stored payload is not a valid ${type.name} payload: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
          row.payload = parsed.data;
        }
        const ctx = this.context(row, controller.signal);
        outcome = { ok: true, result: await type.run(ctx) };
      } catch (err) {
        outcome = { ok: false, err };
      }
      await this.finish(type, row, controller.signal, outcome);
    } catch (err) {
      this.log.error({ err, id }, 'job bookkeeping failed');
    } finally {
      clearInterval(heartbeat);
      clearTimeout(timeout);
      this.running.delete(id);
      resolveDone();
      this.kick();
    }
  }

  private async finish(type: JobType, job: Job, signal: AbortSignal, outcome: { ok: true; result: unknown } | { ok: false; err: unknown }): Promise<void> {
    const now = Date.now();
    const reason = signal.aborted ? (signal.reason as AbortReason) : null;
    if (reason === 'lease-lost') return; // another worker recovered the job: this attempt's writes are void
    if (reason === 'stopped') {
      await this.appendLog(job.id, job.attempt, 'warn', { key: 'stopped' });
      await this.transition(job.id, job.attempt, 'stopped', { finished_at: now, error: 'stopped on request' }, { worker: true });
      return;
    }
    if (reason === 'shutdown') {
      await this.appendLog(job.id, job.attempt, 'warn', { key: 'interrupted' });
      await this.newAttempt(job.id, job.attempt, 'running', { run_at: now });
      return;
    }
    if (outcome.ok) {
      const result = outcome.result === undefined ? null : JSON.stringify(outcome.result).slice(0, 60_000);
      await this.transition(job.id, job.attempt, 'success', { finished_at: now, progress: 100, result, error: null }, { worker: true });
      return;
    }
    const err = outcome.err;
    const message = (reason === 'timeout' ? `timed out after ${type.timeoutMs} ms` : err instanceof Error ? err.message : String(err)).slice(0, 4000);
    await this.appendLog(
      job.id,
      job.attempt,
      'error',
      reason === 'timeout' ? { key: 'timed_out', params: { ms: type.timeoutMs } } : err instanceof KeyedFailure ? { key: err.key, params: err.params } : { text: message },
    );
    const failures = job.failures + 1;
    if (err instanceof PermanentError || (err instanceof KeyedFailure && err.permanent) || failures >= job.maxAttempts) {
      await this.transition(job.id, job.attempt, 'error', { finished_at: now, error: message, failures }, { worker: true });
      return;
    }
    const delay = backoffMs(failures, type.backoffBaseMs ?? this.backoffBaseMs);
    await this.appendLog(job.id, job.attempt, 'info', { key: 'retrying', params: { seconds: Math.round(delay / 1000), attempt: job.attempt + 1, max: job.maxAttempts } });
    await this.newAttempt(job.id, job.attempt, 'running', { run_at: now + delay, error: message, failures });
  }

  private context(job: Job, signal: AbortSignal): JobContext {
    let lastProgressWrite = 0;
    return {
      id: job.id,
      type: job.type,
      payload: job.payload,
      attempt: job.attempt,
      signal,
      log: (key, params, level = 'info') => this.appendLog(job.id, job.attempt, level, { key, params }),
      progress: async (percent, key, params = {}) => {
        const now = Date.now();
        const p = Math.max(0, Math.min(100, Math.round(percent)));
        if (p < 100 && now - lastProgressWrite < 250) return;
        lastProgressWrite = now;
        const keyed = key ? { key, params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v.slice(0, 200) : v])) } : null;
        const text = keyed ? english(`jobprogress.${keyed.key}`, keyed.params).slice(0, 255) : null;
        await repo.updateJobProgress(this.db, job.id, job.attempt, p, text, keyed);
      },
      enqueue: (t, p, o) => this.enqueue(t, p, o),
    };
  }

  /** Stores a log line of an attempt: a keyed line with its English text beside it, or a text as it is. */
  async appendLog(jobId: number, attempt: number, level: string, line: LogLine): Promise<void> {
    if ('text' in line) {
      await repo.appendJobLog(this.db, { jobId, attempt, level, message: line.text, key: null, params: null, maxLines: this.maxLogLines });
      return;
    }
    // Each text parameter is cut at 1000 characters (an error message, a tag list): the line stays a line.
    const params = Object.fromEntries(Object.entries(line.params ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v.slice(0, 1000) : v]));
    const message = english(`joblog.${line.key}`, params);
    await repo.appendJobLog(this.db, { jobId, attempt, level, message, key: line.key, params, maxLines: this.maxLogLines });
  }

  /** Renews the lease; notices a stop requested elsewhere, or a lease taken over. */
  private async heartbeat(id: number, attempt: number, controller: AbortController): Promise<void> {
    if (controller.signal.aborted) return;
    try {
      if (!(await repo.renewJobLease(this.db, id, attempt, this.workerId, Date.now() + this.leaseMs))) {
        controller.abort('lease-lost' satisfies AbortReason);
        return;
      }
      if (await repo.isStopRequested(this.db, id)) controller.abort('stopped' satisfies AbortReason);
    } catch (err) {
      this.log.warn({ err, id }, 'job heartbeat failed');
    }
  }

  /**
   * Recovers expired leases: a claim that never started is released; a run whose worker stopped answering counts as
   * a failure, retried while attempts remain, else failed with the reason. Also trims history per type.
   */
  async sweep(): Promise<void> {
    const now = Date.now();
    const stale = await repo.findExpiredLeases(this.db, now);
    for (const job of stale) {
      if (this.running.has(job.id)) continue;
      if (job.status === 'scheduled') {
        await this.newAttempt(job.id, job.attempt, 'scheduled', { run_at: now });
        continue;
      }
      const failures = job.failures + 1;
      const reason = `the worker running attempt ${job.attempt} stopped answering (lease expired)`;
      await this.appendLog(job.id, job.attempt, 'error', { key: 'lease_expired', params: { attempt: job.attempt } });
      if (failures >= job.maxAttempts) {
        if (await repo.failExpiredJob(this.db, { id: job.id, attempt: job.attempt, error: reason, failures, now })) {
          await repo.releaseJobKey(this.db, job.id);
          await this.emit(job.id, 'running', 'error');
        }
      } else {
        await this.newAttempt(job.id, job.attempt, 'running', { run_at: now + backoffMs(failures, this.backoffBaseMs), error: reason, failures });
      }
    }
    if (stale.length) this.kick();
    for (const [name, type] of this.types) {
      await repo.trimJobHistory(this.db, name, type.keepHistory ?? 1000);
    }
  }

  private async emit(id: number, from: JobStatus | null, to: JobStatus): Promise<void> {
    if (!this.listeners.length) return;
    const job = await this.get(id);
    if (!job) return;
    for (const fn of this.listeners) {
      try {
        await fn({ job, from, to });
      } catch (err) {
        this.log.error({ err, id, to }, 'job listener failed');
      }
    }
  }
}
