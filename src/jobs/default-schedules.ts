import type { ScheduleDefault } from './schedules.js';
import { GARBAGE_COLLECTION } from './types/gc.js';
import { RECONCILE } from './types/reconcile.js';
import { SCAN_ALL } from './types/scan.js';
import { VULNDB_UPDATE } from './types/vulndb-update.js';

/** Default schedules, created once; admins change them in the UI or with PUT /api/v1/schedules/{name}. */
export const DEFAULT_SCHEDULES: ScheduleDefault[] = [
  { name: 'scan-all', cron: '0 2 * * *', jobType: SCAN_ALL },
  { name: 'reconcile', cron: '17 * * * *', jobType: RECONCILE },
  { name: 'vulndb-update', cron: '30 1 * * *', jobType: VULNDB_UPDATE },
  { name: 'gc', cron: '0 3 * * 0', jobType: GARBAGE_COLLECTION, payload: { dryRun: false, deleteUntagged: false } },
];
