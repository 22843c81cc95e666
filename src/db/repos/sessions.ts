import { retryDeadlock } from './jobs.js';
import type { ExpressionBuilder } from 'kysely';
import type { DB } from '../connect.js';
import type { Database } from '../tables.js';
import { isUniqueViolation } from '../../errors.js';

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

/** Failed sign-ins allowed per key within `windowMs` (ms) before the key is locked for `lockMs` (ms). */
export interface LoginPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

/** What {@link reserveLoginAttempt} decided: an attempt counted (`last` when it took the final one, which locks the key), or `refused`. */
export type LoginAttempt = 'counted' | 'last' | 'refused';

type LoginFailureRow = { failures: number; first_at: number; locked_until: number };

/** True when a row counts nothing any more: its lock ended, or (unlocked) its window ran out. */
export function loginFailureStale(row: LoginFailureRow, now: number, policy: LoginPolicy): boolean {
  const lockedUntil = Number(row.locked_until);
  return lockedUntil > 0 ? lockedUntil <= now : Number(row.first_at) <= now - policy.windowMs;
}

/** True when a row holds no attempt in the current window and no lock: a sign-in now would be the window's first. */
export function loginFailureClear(row: LoginFailureRow | undefined, now: number, policy: LoginPolicy): boolean {
  return !row || loginFailureStale(row, now, policy) || (Number(row.locked_until) === 0 && Number(row.failures) === 0);
}

/** When `key`'s lock was set (epoch ms), or null while the key is not locked. */
export async function findLoginLockedAt(db: DB, key: string, policy: LoginPolicy): Promise<number | null> {
  const row = await findLoginFailure(db, key);
  return row && Number(row.locked_until) > 0 ? Number(row.locked_until) - policy.lockMs : null;
}

/**
 * Counts one sign-in attempt for `key` before its credentials are checked, atomically on both dialects and across
 * replicas: each attempt is one conditional `UPDATE … SET failures = failures + 1 WHERE failures < limit …` whose
 * affected-row count says whether it got a place, so concurrent attempts can never all read "not locked" and the
 * counter never loses an update. The attempt that takes the last place sets the lock (`locked_until`, ms) in the
 * same statement. A missing row is inserted (a duplicate key means a concurrent attempt inserted it: try again), an
 * expired one is reset by a statement that re-checks the expiry. Refusing is always safe, so after a few rounds of
 * contention (a reset racing a success) the answer is `refused`.
 */
export async function reserveLoginAttempt(db: DB, key: string, now: number, policy: LoginPolicy): Promise<LoginAttempt> {
  // Each statement commits on its own and a deadlock victim took no effect, so the whole reservation can run again.
  return retryDeadlock(() => reserveOnce(db, key, now, policy));
}

async function reserveOnce(db: DB, key: string, now: number, policy: LoginPolicy): Promise<LoginAttempt> {
  const max = policy.maxFailures;
  const open = (eb: ExpressionBuilder<Database, 'login_failures'>) => eb.and([eb('key', '=', key), eb('locked_until', '=', 0), eb('first_at', '>', now - policy.windowMs)]);
  for (let round = 0; round < 3; round++) {
    if (max > 1) {
      const r = await db
        .updateTable('login_failures')
        .set((eb) => ({ failures: eb('failures', '+', 1) }))
        .where(open)
        .where('failures', '<', max - 1)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) return 'counted';
    }
    const row = await findLoginFailure(db, key);
    if (!row) {
      try {
        await db
          .insertInto('login_failures')
          .values({ key, failures: 1, first_at: now, locked_until: max <= 1 ? now + policy.lockMs : 0 })
          .execute();
        return max <= 1 ? 'last' : 'counted';
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        continue; // a concurrent attempt created it
      }
    }
    if (loginFailureStale(row, now, policy)) {
      await db
        .updateTable('login_failures')
        .set({ failures: 0, first_at: now, locked_until: 0 })
        .where('key', '=', key)
        .where((eb) => eb.or([eb.and([eb('locked_until', '>', 0), eb('locked_until', '<=', now)]), eb.and([eb('locked_until', '=', 0), eb('first_at', '<=', now - policy.windowMs)])]))
        .execute();
      continue;
    }
    if (Number(row.locked_until) > 0 || Number(row.failures) >= max) return 'refused';
    if (Number(row.failures) === max - 1) {
      const r = await db
        .updateTable('login_failures')
        .set({ failures: max, locked_until: now + policy.lockMs })
        .where(open)
        .where('failures', '=', max - 1)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) return 'last';
    }
  }
  return 'refused';
}

/**
 * Gives back an attempt counted by {@link reserveLoginAttempt} whose check could not decide (a directory that is
 * down): one place fewer, and no lock, since a lock means every place is taken.
 */
export async function releaseLoginAttempt(db: DB, key: string): Promise<void> {
  await retryDeadlock(() =>
    db
      .updateTable('login_failures')
      .set((eb) => ({ locked_until: 0, failures: eb('failures', '-', 1) }))
      .where('key', '=', key)
      .where('failures', '>', 0)
      .execute(),
  );
}

/** Ends the counting for `key` (a successful sign-in). */
export async function deleteLoginFailure(db: DB, key: string): Promise<void> {
  await retryDeadlock(() => db.deleteFrom('login_failures').where('key', '=', key).execute());
}

/**
 * Removes rows that can no longer count or lock anything: a lock starts within its window, so a row whose window
 * began `windowMs + lockMs` ago is over either way. Keeps the table bounded by the keys tried in that span.
 */
export async function deleteStaleLoginFailures(db: DB, now: number, policy: LoginPolicy): Promise<void> {
  await db
    .deleteFrom('login_failures')
    .where('first_at', '<=', now - policy.windowMs - policy.lockMs)
    .execute();
}
