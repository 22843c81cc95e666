import type { DB } from '../connect.js';
import { announceLocalBump, bumpGeneration } from './generations.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import { keysetPage } from './keyset.js';

/** The groups a user had at their last sign-in, sorted. */
export async function listUserGroups(db: DB, userId: number): Promise<string[]> {
  const rows = await db.selectFrom('user_groups').select('group_name').where('user_id', '=', userId).orderBy('group_name').execute();
  return rows.map((r) => r.group_name);
}

/** A page of the groups a user had at their last sign-in, by name (keyset on the primary key's second column). */
export async function pageUserGroups(db: DB, userId: number, req: PageRequest): Promise<KeysetPage<string>> {
  const page = await keysetPage(
    db,
    db.selectFrom('user_groups').where('user_id', '=', userId),
    SORTS.userGroups,
    req,
    (qb) => qb.select('group_name'),
    (r) => [r.group_name],
  );
  return { ...page, items: page.items.map((r) => r.group_name) };
}

/**
 * Replaces a user's groups with `groups` (deduplicated by the caller), in one transaction so a concurrent permission
 * check sees either the old set or the new one. Only a real change is written (and moves the shared `access`
 * counter, so every replica's permission caches see it): directory users refresh their groups at every sign-in.
 */
export async function replaceUserGroups(db: DB, userId: number, groups: readonly string[], now: number): Promise<void> {
  const before = await listUserGroups(db, userId);
  const after = [...groups].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sortedBefore = [...before].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (sortedBefore.length === after.length && sortedBefore.every((g, i) => g === after[i])) return;
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('user_groups').where('user_id', '=', userId).execute();
    for (let i = 0; i < groups.length; i += 200) {
      const chunk = groups.slice(i, i + 200);
      await trx
        .insertInto('user_groups')
        .values(chunk.map((g) => ({ user_id: userId, group_name: g, updated_at: now })))
        .execute();
    }
    await bumpGeneration(trx, 'access');
  });
  announceLocalBump(db, 'access');
}
