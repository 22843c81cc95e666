import cron, { type ScheduledTask } from 'node-cron';
import type { DB } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { JobQueue } from './queue.js';

export interface ScheduleDefault {
  name: string;
  cron: string;
  jobType: string;
  payload?: unknown;
}

export interface Schedule {
  name: string;
  cron: string;
  enabled: boolean;
  jobType: string;
  /** catch-up watermark: moved by fires, and by creating, editing or re-enabling the schedule */
  lastFireAt: number | null;
  /** the last fire that enqueued a job: its fire time and job id (null until one did) */
  lastRun: { at: number; jobId: number } | null;
  updatedAt: number;
}

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

const toSchedule = (r: { name: string; cron: string; enabled: number; job_type: string; last_fire_at: number | null; last_job_id: number | null; last_job_at: number | null; updated_at: number }): Schedule => ({
  name: r.name,
  cron: r.cron,
  enabled: !!r.enabled,
  jobType: r.job_type,
  lastFireAt: r.last_fire_at === null ? null : Number(r.last_fire_at),
  lastRun: r.last_job_id === null || r.last_job_at === null ? null : { at: Number(r.last_job_at), jobId: Number(r.last_job_id) },
  updatedAt: Number(r.updated_at),
});

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
      const have = await this.db.selectFrom('schedules').select('name').where('name', '=', d.name).executeTakeFirst();
      if (!have) {
        try {
          await this.db.insertInto('schedules').values({ name: d.name, cron: d.cron, enabled: 1, job_type: d.jobType, payload: JSON.stringify(d.payload ?? {}), last_fire_at: now, updated_at: now }).execute();
        } catch {
          /* another replica created it */
        }
      }
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
    const values = { cron: expr.trim(), enabled: 1, job_type: jobType, payload: JSON.stringify(payload ?? {}), last_fire_at: now, updated_at: now };
    const res = await this.db.updateTable('schedules').set(values).where('name', '=', name).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      try {
        await this.db.insertInto('schedules').values({ name, ...values }).execute();
      } catch {
        await this.db.updateTable('schedules').set(values).where('name', '=', name).execute(); // another replica created it
      }
    }
    const s = (await this.get(name))!;
    this.arm(s);
    return s;
  }

  /** Removes a run-time schedule. */
  async remove(name: string): Promise<void> {
    await this.db.deleteFrom('schedules').where('name', '=', name).execute();
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
    const row = await this.db.selectFrom('schedules').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row || !row.enabled) return;
    const key = `schedule:${name}:${new Date(Math.floor(fireTime / 1000) * 1000).toISOString()}`;
    try {
      const { id } = await this.queue.enqueue(row.job_type, JSON.parse(row.payload), { uniqueKey: key });
      await this.db
        .updateTable('schedules')
        .set({ last_fire_at: fireTime })
        .where('name', '=', name)
        .where((eb) => eb.or([eb('last_fire_at', 'is', null), eb('last_fire_at', '<', fireTime)]))
        .execute();
      await this.db
        .updateTable('schedules')
        .set({ last_job_id: id, last_job_at: fireTime })
        .where('name', '=', name)
        .where((eb) => eb.or([eb('last_job_at', 'is', null), eb('last_job_at', '<', fireTime)]))
        .execute();
    } catch (err) {
      this.log.error({ err, schedule: name }, 'schedule fire failed');
    }
  }

  async list(): Promise<Schedule[]> {
    return (await this.db.selectFrom('schedules').selectAll().orderBy('name').execute()).map(toSchedule);
  }

  async get(name: string): Promise<Schedule | undefined> {
    const r = await this.db.selectFrom('schedules').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toSchedule(r);
  }

  /** Changes the expression and/or enabled flag; the caller validated the expression with cronProblem. */
  async update(name: string, patch: { cron?: string; enabled?: boolean }): Promise<Schedule | undefined> {
    const now = Date.now();
    const set: { cron?: string; enabled?: number; updated_at: number; last_fire_at?: number } = { updated_at: now };
    if (patch.cron !== undefined) set.cron = patch.cron.trim();
    if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
    // A new or re-enabled schedule starts from now: it does not "catch up" fires from before the change.
    if (patch.cron !== undefined || patch.enabled) set.last_fire_at = now;
    const res = await this.db.updateTable('schedules').set(set).where('name', '=', name).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return undefined;
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
