import type { DB } from '../connect.js';
import { updateOrInsert } from './sql.js';

/** The user's chosen UI locale, or null when they have not chosen one. */
export async function findUserLocale(db: DB, userId: number): Promise<string | null> {
  const r = await db.selectFrom('user_preferences').select('locale').where('user_id', '=', userId).executeTakeFirst();
  return r?.locale ?? null;
}

/** Stores (or clears, with null) the user's UI locale; an upsert that works on both dialects. */
export async function setUserLocale(db: DB, userId: number, locale: string | null, now: number): Promise<void> {
  await updateOrInsert(
    () => db.updateTable('user_preferences').set({ locale, updated_at: now }).where('user_id', '=', userId).executeTakeFirst(),
    () => db.insertInto('user_preferences').values({ user_id: userId, locale, updated_at: now }).execute(),
  );
}
