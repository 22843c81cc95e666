import type { DB } from '../connect.js';
import { isUniqueViolation } from '../../errors.js';

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
  const res = await db.updateTable('system_settings').set({ value, updated_at: now }).where('name', '=', name).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0 && !(await insertSettingIfAbsent(db, name, value, now))) {
    await db.updateTable('system_settings').set({ value, updated_at: now }).where('name', '=', name).execute();
  }
}
