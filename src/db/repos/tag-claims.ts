import type { DB } from '../connect.js';
import { isUniqueViolation } from '../../errors.js';
import { retryDeadlock } from './jobs.js';

/**
 * Immutable tags claimed by manifest PUTs in flight or not imported yet, one row per (repository, tag): the key is
 * the lock, so two PUTs of one new tag on any replicas never both hold it with different digests. Every statement
 * runs on its own (autocommit): an insert that meets the key reads the holder's digest, and an expired claim is
 * removed by its key only (no range lock two replicas could deadlock on).
 */

/** The outcome of {@link claimTag}: held (fresh: this PUT took the tag first), or held by another digest. */
export type TagClaim = { held: true; fresh: boolean } | { held: false; digest: string };

export async function claimTag(db: DB, c: { repository: string; tag: string; digest: string; holder: string; now: number; expiresAt: number }): Promise<TagClaim> {
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      await retryDeadlock(() => db.insertInto('tag_claims').values({ repository: c.repository, tag: c.tag, digest: c.digest, holder: c.holder, claimed_at: c.now, expires_at: c.expiresAt }).execute());
      return { held: true, fresh: true };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const row = await db.selectFrom('tag_claims').select(['digest', 'expires_at']).where('repository', '=', c.repository).where('tag', '=', c.tag).executeTakeFirst();
    if (!row) continue; // released in between: try again
    if (Number(row.expires_at) <= c.now) {
      await retryDeadlock(() => db.deleteFrom('tag_claims').where('repository', '=', c.repository).where('tag', '=', c.tag).where('expires_at', '<=', c.now).execute());
      continue;
    }
    if (row.digest !== c.digest) return { held: false, digest: row.digest };
    // The same manifest again (a client retrying, or one image pushed twice at once): it shares the claim and becomes
    // its holder, so whichever of them the registry answers last decides whether the claim stays.
    const shared = await retryDeadlock(() =>
      db.updateTable('tag_claims').set({ holder: c.holder, expires_at: c.expiresAt }).where('repository', '=', c.repository).where('tag', '=', c.tag).where('digest', '=', c.digest).executeTakeFirst(),
    );
    if (Number(shared.numUpdatedRows) > 0) return { held: true, fresh: false };
  }
  throw new Error(`the claim on ${c.repository}:${c.tag} kept changing`);
}

/** Ends a claim this holder still holds (its PUT was refused: the registry stored nothing). */
export async function releaseTagClaim(db: DB, repository: string, tag: string, holder: string): Promise<void> {
  await retryDeadlock(() => db.deleteFrom('tag_claims').where('repository', '=', repository).where('tag', '=', tag).where('holder', '=', holder).execute());
}

/** Ends the claim of a tag Berth has now imported at this digest (the database knows the tag from here on). */
export async function endTagClaim(db: DB, repository: string, tag: string, digest: string): Promise<void> {
  await retryDeadlock(() => db.deleteFrom('tag_claims').where('repository', '=', repository).where('tag', '=', tag).where('digest', '=', digest).execute());
}

/**
 * Removes claims expired before `now` (a core that stopped with a push in flight leaves one; a later push of the tag
 * removes it too), `limit` at a time through the expiry index. Returns how many went.
 */
export async function deleteExpiredTagClaims(db: DB, now: number, limit = 500): Promise<number> {
  let n = 0;
  for (;;) {
    const rows = await db.selectFrom('tag_claims').select(['repository', 'tag']).where('expires_at', '<=', now).orderBy('expires_at').limit(limit).execute();
    for (const r of rows) {
      const res = await retryDeadlock(() => db.deleteFrom('tag_claims').where('repository', '=', r.repository).where('tag', '=', r.tag).where('expires_at', '<=', now).executeTakeFirst());
      n += Number(res.numDeletedRows);
    }
    if (rows.length < limit) return n;
  }
}
