import cron, { type ScheduledTask } from 'node-cron';
import type { DB } from '../db/connect.js';
import * as repo from '../db/repos/schedules.js';
import type { Schedule } from '../db/repos/schedules.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import type { Logger } from '../log.js';
import type { JobQueue } from './queue.js';

export interface ScheduleDefault {
  name: string;
  cron: string;
  jobType: string;
  payload?: unknown;
}

export type { Schedule } from '../db/repos/schedules.js';

const TZ = 'Etc/UTC';

/** Why a cron expression is not accepted, or null (5 fields, or 6 with seconds; UTC). */
export function cronProblem(expr: unknown): string | null {
  if (typeof expr !== 'string' || !expr.trim()) return 'cron expression is required';
  if (expr.length > 128) return 'cron expression is too long';
  const fields = expr.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) return 'a cron expression has 5 fields (minute hour day month weekday), or 6 with seconds first';
  const v = cron.validateDetailed(expr.trim());
  if (!v.valid) return v.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'invalid cron expression';
  return null;
}

/** The next n fire times (UTC). */
export function nextRuns(expr: string, n: number): Date[] {
  const task = cron.createTask(expr, () => undefined, { timezone: TZ });
  try {
    return task.getNextRuns(n);
  } finally {
    void task.destroy();
  }
}

/** The latest fire time at or before `now` within `lookbackMs`, or null (minute resolution for 5 fields). */
export function previousRun(expr: string, now: number, lookbackMs = 8 * 86400_000): number | null {
  const task = cron.createTask(expr, () => undefined, { timezone: TZ });
  try {
    const seconds = expr.trim().split(/\s+/).length === 6;
    const step = seconds ? 1000 : 60_000;
    let t = Math.floor(now / step) * step;
    for (const end = now - lookbackMs; t >= end; t -= step) if (task.match(new Date(t))) return t;
    return null;
  } finally {
    void task.destroy();
  }
}

/**
 * Cron schedules persisted in the DB and driven by node-cron. A fire only enqueues, with the key
 * `schedule:<name>:<fire time>`, so several replicas firing the same tick create one job. A fire missed while no
 * replica ran is enqueued once at start.
 */
export class Scheduler {
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly payloads = new Map<string, unknown>();
  /** job types whose schedules are created at run time (per-project retention), beside the named defaults */
  private readonly dynamicTypes = new Set<string>();
  private started = false;

  constructor(
    private readonly db: DB,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    private readonly defaults: ScheduleDefault[],
  ) {}

  /** Creates missing default rows (never overwriting an admin's edits), catches up missed fires, starts cron. */
  async start(): Promise<void> {
    const now = Date.now();
    for (const d of this.defaults) {
      this.payloads.set(d.name, d.payload ?? {});
      await repo.insertScheduleIfAbsent(this.db, { name: d.name, cron: d.cron, jobType: d.jobType, payload: d.payload ?? {}, now });
    }
    this.started = true;
    for (const s of await this.list()) {
      if (!this.known(s)) continue; // a schedule whose job type this build does not have
      if (s.enabled) {
        const due = previousRun(s.cron, now);
        if (due !== null && (s.lastFireAt ?? 0) < due) {
          this.log.info({ schedule: s.name, due: new Date(due).toISOString() }, 'running a fire missed while down');
          await this.fire(s.name, due);
        }
      }
      this.arm(s);
    }
  }

  private known(s: Schedule): boolean {
    return this.payloads.has(s.name) || this.dynamicTypes.has(s.jobType);
  }

  /** Lets schedules of this job type be created and removed at run time with {@link put} and {@link remove}. */
  allowDynamic(jobType: string): void {
    this.dynamicTypes.add(jobType);
  }

  /**
   * Creates or changes a run-time schedule (a job type allowed with {@link allowDynamic}); the caller validated the
   * expression with cronProblem. Like an edit, it starts from now: no catch-up of earlier fires.
   */
  async put(name: string, expr: string, jobType: string, payload: unknown): Promise<Schedule> {
    const now = Date.now();
    await repo.upsertSchedule(this.db, { name, cron: expr.trim(), jobType, payload: payload ?? {}, now });
    const s = (await this.get(name))!;
    this.arm(s);
    return s;
  }

  /** Removes a run-time schedule. */
  async remove(name: string): Promise<void> {
    await repo.deleteSchedule(this.db, name);
    this.tasks.get(name)?.destroy();
    this.tasks.delete(name);
  }

  private arm(s: Schedule): void {
    this.tasks.get(s.name)?.destroy();
    this.tasks.delete(s.name);
    if (!s.enabled || !this.started) return;
    const task = cron.schedule(s.cron, (ctx) => void this.fire(s.name, ctx.date.getTime()), { timezone: TZ, name: `berth:${s.name}`, unref: true });
    this.tasks.set(s.name, task);
  }

  /** Enqueues the schedule's job for one fire time; duplicates (other replicas, catch-up) are no-ops. */
  async fire(name: string, fireTime: number): Promise<void> {
    const key = `schedule:${name}:${new Date(Math.floor(fireTime / 1000) * 1000).toISOString()}`;
    try {
      const scheduled = await repo.findScheduledJob(this.db, name);
      if (!scheduled?.enabled) return;
      const { id } = await this.queue.enqueueStored(scheduled.jobType, scheduled.payload, { uniqueKey: key });
      await repo.recordScheduleFire(this.db, name, fireTime, id);
    } catch (err) {
      this.log.error({ err, schedule: name }, 'schedule fire failed');
    }
  }

  list(): Promise<Schedule[]> {
    return repo.listSchedules(this.db);
  }

  /** A page of schedules by name (the REST list and the schedules page). */
  page(req: PageRequest): Promise<KeysetPage<Schedule>> {
    return repo.pageSchedules(this.db, req);
  }

  get(name: string): Promise<Schedule | undefined> {
    return repo.findSchedule(this.db, name);
  }

  /** Changes the expression and/or enabled flag; the caller validated the expression with cronProblem. */
  async update(name: string, patch: { cron?: string; enabled?: boolean }): Promise<Schedule | undefined> {
    const changed = await repo.updateSchedule(this.db, name, { cron: patch.cron?.trim(), enabled: patch.enabled }, Date.now());
    if (!changed) return undefined;
    const s = (await this.get(name))!;
    this.arm(s);
    return s;
  }

  /** Re-reads every schedule (edits made on another replica). */
  async refresh(): Promise<void> {
    for (const s of await this.list()) {
      const current = this.tasks.get(s.name);
      if (!this.known(s)) continue;
      if (!s.enabled || !current || current.getPattern() !== s.cron) this.arm(s);
    }
  }

  stop(): void {
    this.started = false;
    for (const t of this.tasks.values()) void t.destroy();
    this.tasks.clear();
  }
}
