import type { DB } from '../connect.js';
import { isUniqueViolation } from '../../errors.js';
import { updateOrInsert } from './sql.js';

/** A system setting's JSON value, or undefined when unset or unreadable. */
export async function getSetting<T>(db: DB, name: string): Promise<T | undefined> {
  const r = await db.selectFrom('system_settings').select('value').where('name', '=', name).executeTakeFirst();
  if (!r) return undefined;
  try {
    return JSON.parse(r.value) as T;
  } catch {
    return undefined;
  }
}

/** Sets (or with `null` removes) a system setting. */
export async function putSetting(db: DB, name: string, value: unknown): Promise<void> {
  const now = Date.now();
  if (value === null) {
    await db.deleteFrom('system_settings').where('name', '=', name).execute();
    return;
  }
  const v = JSON.stringify(value);
  await upsertSetting(db, name, v, now);
}

/** Removes every setting whose value is `{"registration": id}` pointing at this scanner registration. */
export async function deleteSettingsWhere(db: DB, prefix: string, value: unknown): Promise<void> {
  await db.deleteFrom('system_settings').where('name', 'like', `${prefix}%`).where('value', '=', JSON.stringify(value)).execute();
}

/** A system setting's JSON text, or undefined. */
export async function findSetting(db: DB, name: string): Promise<string | undefined> {
  const r = await db.selectFrom('system_settings').select('value').where('name', '=', name).executeTakeFirst();
  return r?.value;
}

/** Inserts a setting unless it exists (another replica may have seeded it first). Returns whether it inserted. */
export async function insertSettingIfAbsent(db: DB, name: string, value: string, now: number): Promise<boolean> {
  try {
    await db.insertInto('system_settings').values({ name, value, updated_at: now }).execute();
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

export async function upsertSetting(db: DB, name: string, value: string, now: number): Promise<void> {
  await updateOrInsert(
    () => db.updateTable('system_settings').set({ value, updated_at: now }).where('name', '=', name).executeTakeFirst(),
    () => db.insertInto('system_settings').values({ name, value, updated_at: now }).execute(),
  );
}
