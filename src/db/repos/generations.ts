import type { DB } from '../connect.js';

/** Names of the shared change counters (see migrations/…-007-generations.ts). */
export type GenerationName = 'access';

/**
 * Moves a change counter forward. Called by every repo write that changes who may do what, inside the caller's
 * transaction when there is one, so no write path can forget it. Outside a transaction this process's caches are told
 * at once (the write has committed); inside one they are not, since a lookup between now and the commit would read
 * and cache the old rows: the caller calls {@link announceLocalBump} once its transaction has committed.
 */
export async function bumpGeneration(db: DB, name: GenerationName): Promise<void> {
  await db
    .updateTable('cache_generations')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('name', '=', name)
    .execute();
  if (!db.isTransaction) announceLocalBump(db, name);
}

/** Tells this process's caches of `db` that counter `name` moved (after the transaction that moved it committed). */
export function announceLocalBump(db: DB, name: GenerationName): void {
  for (const fn of localListeners.get(db.getExecutor().adapter) ?? []) fn(name);
}

/**
 * Listeners in this process, per database. Keyed by the dialect adapter, which a Kysely instance shares with its
 * transactions, so a bump inside a transaction reaches them too. Other replicas see the counter instead.
 */
const localListeners = new WeakMap<object, Set<(name: GenerationName) => void>>();

/** Calls `fn` whenever this process moves a counter of `db`; returns the function that stops it. */
export function onLocalBump(db: DB, fn: (name: GenerationName) => void): () => void {
  const key = db.getExecutor().adapter;
  let set = localListeners.get(key);
  if (!set) {
    set = new Set();
    localListeners.set(key, set);
  }
  set.add(fn);
  const listeners = set;
  return () => listeners.delete(fn);
}

/** Every counter's current value. */
export async function readGenerations(db: DB): Promise<Map<string, number>> {
  const rows = await db.selectFrom('cache_generations').select(['name', 'value']).execute();
  return new Map(rows.map((r) => [r.name, Number(r.value)]));
}
