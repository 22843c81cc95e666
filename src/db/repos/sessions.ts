import type { DB } from '../connect.js';

export async function insertSession(db: DB, s: { id: string; userId: number; csrfToken: string; now: number; expiresAt: number }): Promise<void> {
  await db.insertInto('sessions').values({ id: s.id, user_id: s.userId, csrf_token: s.csrfToken, created_at: s.now, expires_at: s.expiresAt }).execute();
}

export function findSession(db: DB, id: string, now: number) {
  return db.selectFrom('sessions').select(['id', 'user_id', 'csrf_token', 'expires_at']).where('id', '=', id).where('expires_at', '>', now).executeTakeFirst();
}

export async function deleteSession(db: DB, id: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', id).execute();
}

export async function deleteUserSessions(db: DB, userId: number, exceptId?: string): Promise<void> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptId) q = q.where('id', '!=', exceptId);
  await q.execute();
}

export async function deleteExpiredSessions(db: DB, now: number): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
}

export function findLoginFailure(db: DB, key: string) {
  return db.selectFrom('login_failures').selectAll().where('key', '=', key).executeTakeFirst();
}

export async function upsertLoginFailure(db: DB, row: { key: string; failures: number; first_at: number; locked_until: number }): Promise<void> {
  const res = await db.updateTable('login_failures').set(row).where('key', '=', row.key).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) {
    try {
      await db.insertInto('login_failures').values(row).execute();
    } catch {
      // a concurrent failure inserted it first: count ours on top
      await db.updateTable('login_failures').set(row).where('key', '=', row.key).execute();
    }
  }
}

export async function deleteLoginFailure(db: DB, key: string): Promise<void> {
  await db.deleteFrom('login_failures').where('key', '=', key).execute();
}
