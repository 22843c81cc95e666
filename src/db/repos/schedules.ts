import type { DB } from '../connect.js';
import { isUniqueViolation } from '../../errors.js';
import type { SchedulesTable } from '../tables.js';
import type { Selectable } from 'kysely';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import { keysetPage } from './keyset.js';

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

const toSchedule = (r: Selectable<SchedulesTable>): Schedule => ({
  name: r.name,
  cron: r.cron,
  enabled: !!r.enabled,
  jobType: r.job_type,
  lastFireAt: r.last_fire_at === null ? null : Number(r.last_fire_at),
  lastRun: r.last_job_id === null || r.last_job_at === null ? null : { at: Number(r.last_job_at), jobId: Number(r.last_job_id) },
  updatedAt: Number(r.updated_at),
});

/** What a schedule's row says its job is. */
export interface ScheduledJob {
  enabled: boolean;
  jobType: string;
  payload: unknown;
}

/** Creates a schedule unless one of that name exists (an admin's edits are never overwritten). */
export async function insertScheduleIfAbsent(db: DB, s: { name: string; cron: string; jobType: string; payload: unknown; now: number }): Promise<void> {
  const have = await db.selectFrom('schedules').select('name').where('name', '=', s.name).executeTakeFirst();
  if (have) return;
  try {
    await db
      .insertInto('schedules')
      .values({ name: s.name, cron: s.cron, enabled: 1, job_type: s.jobType, payload: JSON.stringify(s.payload ?? {}), last_fire_at: s.now, updated_at: s.now })
      .execute();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err; // another replica created it
  }
}

/** Creates or replaces a schedule, enabled, starting from `now`. */
export async function upsertSchedule(db: DB, s: { name: string; cron: string; jobType: string; payload: unknown; now: number }): Promise<void> {
  const values = { cron: s.cron, enabled: 1, job_type: s.jobType, payload: JSON.stringify(s.payload ?? {}), last_fire_at: s.now, updated_at: s.now };
  const res = await db.updateTable('schedules').set(values).where('name', '=', s.name).executeTakeFirst();
  if (Number(res.numUpdatedRows) > 0) return;
  try {
    await db
      .insertInto('schedules')
      .values({ name: s.name, ...values })
      .execute();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    await db.updateTable('schedules').set(values).where('name', '=', s.name).execute(); // another replica created it
  }
}

export async function deleteSchedule(db: DB, name: string): Promise<void> {
  await db.deleteFrom('schedules').where('name', '=', name).execute();
}

export async function findScheduledJob(db: DB, name: string): Promise<ScheduledJob | undefined> {
  const r = await db.selectFrom('schedules').select(['enabled', 'job_type', 'payload']).where('name', '=', name).executeTakeFirst();
  return r && { enabled: !!r.enabled, jobType: r.job_type, payload: JSON.parse(r.payload) as unknown };
}

/** Records a fire: the catch-up watermark and the job it enqueued, each only moving forward. */
export async function recordScheduleFire(db: DB, name: string, fireTime: number, jobId: number): Promise<void> {
  await db
    .updateTable('schedules')
    .set({ last_fire_at: fireTime })
    .where('name', '=', name)
    .where((eb) => eb.or([eb('last_fire_at', 'is', null), eb('last_fire_at', '<', fireTime)]))
    .execute();
  await db
    .updateTable('schedules')
    .set({ last_job_id: jobId, last_job_at: fireTime })
    .where('name', '=', name)
    .where((eb) => eb.or([eb('last_job_at', 'is', null), eb('last_job_at', '<', fireTime)]))
    .execute();
}

export async function listSchedules(db: DB): Promise<Schedule[]> {
  return (await db.selectFrom('schedules').selectAll().orderBy('name').execute()).map(toSchedule);
}

/** A page of schedules by name (keyset on the primary key). */
export async function pageSchedules(db: DB, req: PageRequest): Promise<KeysetPage<Schedule>> {
  const page = await keysetPage(
    db,
    db.selectFrom('schedules'),
    SORTS.schedules,
    req,
    (qb) => qb.selectAll(),
    (r) => [r.name],
  );
  return { ...page, items: page.items.map(toSchedule) };
}

export async function findSchedule(db: DB, name: string): Promise<Schedule | undefined> {
  const r = await db.selectFrom('schedules').selectAll().where('name', '=', name).executeTakeFirst();
  return r && toSchedule(r);
}

/** Changes the expression and/or enabled flag; a new or re-enabled schedule's watermark moves to `now`. */
export async function updateSchedule(db: DB, name: string, patch: { cron?: string; enabled?: boolean }, now: number): Promise<boolean> {
  const set: { cron?: string; enabled?: number; updated_at: number; last_fire_at?: number } = { updated_at: now };
  if (patch.cron !== undefined) set.cron = patch.cron;
  if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
  // A new or re-enabled schedule starts from now: it does not "catch up" fires from before the change.
  if (patch.cron !== undefined || patch.enabled) set.last_fire_at = now;
  const res = await db.updateTable('schedules').set(set).where('name', '=', name).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
