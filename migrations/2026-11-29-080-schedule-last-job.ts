import type { Migration } from 'kysely';
import { addColumn, type AnyDB } from './helpers.js';

/**
 * The job a schedule's last fire created, and when. `last_fire_at` is the catch-up watermark (moved on create, on
 * edit and on re-enable, when nothing ran), so it cannot say when the schedule last fired.
 */
export const scheduleLastJob: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'schedules', 'last_job_id', 'bigint');
    await addColumn(db, 'schedules', 'last_job_at', 'bigint');
  },
};
