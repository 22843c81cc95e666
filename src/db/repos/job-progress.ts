import type { DB } from '../connect.js';
import { FINAL_STATES } from '../../jobs/states.js';

/**
 * How many jobs holding one of these unique keys have not reached a final state (success, error, stopped). A key
 * released when its job finished, or a job pruned from history, counts as finished.
 */
export async function countUnfinishedByKeys(db: DB, keys: readonly string[]): Promise<number> {
  if (!keys.length) return 0;
  const r = await db
    .selectFrom('jobs')
    .select((e) => e.fn.countAll<number>().as('n'))
    .where('unique_key', 'in', [...keys])
    .where('status', 'not in', [...FINAL_STATES])
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
