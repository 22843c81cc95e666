import type { DB } from '../connect.js';

/** Names of the shared change counters (see migrations/…-007-generations.ts). */
export type GenerationName = 'access';

/**
 * Moves a change counter forward. Called by every repo write that changes who may do what, inside the caller's
 * transaction when there is one, so no write path can forget it.
 */
export async function bumpGeneration(db: DB, name: GenerationName): Promise<void> {
  await db
    .updateTable('cache_generations')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('name', '=', name)
    .execute();
}

/** Every counter's current value. */
export async function readGenerations(db: DB): Promise<Map<string, number>> {
  const rows = await db.selectFrom('cache_generations').select(['name', 'value']).execute();
  return new Map(rows.map((r) => [r.name, Number(r.value)]));
}
