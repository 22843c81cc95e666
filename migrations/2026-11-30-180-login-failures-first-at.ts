import type { Migration } from 'kysely';
import { createIndex, type AnyDB } from './helpers.js';

/**
 * Login failure rows are pruned by age (`first_at`) once they can no longer count or lock anything: one row per
 * (name, client address) tried, unknown names included, so the prune must not scan the table.
 */
export const loginFailuresFirstAt: Migration = {
  async up(db: AnyDB) {
    await createIndex(db, 'login_failures_first_at_idx', 'login_failures', ['first_at']);
  },
};
