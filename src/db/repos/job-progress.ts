import type { DB } from '../connect.js';
import { FINAL_STATES } from '../../jobs/states.js';

/**
 * Of the given job ids, those that still exist and have not reached a final state (success, error, stopped).
 * A job pruned from history counts as finished. Queried in chunks of 1000 ids (bounded statement size).
 */
export async function unfinishedJobIds(db: DB, ids: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    const rows = await db
      .selectFrom('jobs')
      .select('id')
      .where('id', 'in', chunk)
      .where('status', 'not in', [...FINAL_STATES])
      .execute();
    for (const r of rows) out.push(Number(r.id));
  }
  return out;
}
