import { sql } from 'kysely';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import { likeExpr } from './sql.js';
import type { NewUserRow, UserRow } from '../tables.js';
import { bumpGeneration } from './generations.js';

export interface User {
  id: number;
  username: string;
  email: string | null;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** `db`, `ldap` or `oidc` */
  authSource: string;
}

export const toUser = (r: UserRow): User => ({
  id: Number(r.id),
  username: r.username,
  email: r.email,
  isAdmin: !!r.is_admin,
  disabled: !!r.disabled,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  authSource: r.auth_source ?? 'db',
});

export async function insertUser(db: DB, row: NewUserRow): Promise<number> {
  const res = await db.insertInto('users').values(row).executeTakeFirstOrThrow();
  await bumpGeneration(db, 'access');
  return Number(res.insertId);
}

export function findUserRowByName(db: DB, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

/** A user by name, mapped. */
export async function findUserByName(db: DB, username: string): Promise<User | undefined> {
  const r = await findUserRowByName(db, username);
  return r && toUser(r);
}

export function findUserRowById(db: DB, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Users by name (keyset over username, id), with a capped total. */
export async function listUsers(db: DB, opts: { q?: string; page: PageRequest }): Promise<KeysetPage<User>> {
  let base = db.selectFrom('users');
  if (opts.q) base = base.where(likeExpr(sql.ref('username'), opts.q));
  const page = await keysetPage(
    db,
    base,
    SORTS.users,
    opts.page,
    (qb) => qb.selectAll(),
    (r) => [r.username, Number(r.id)],
  );
  return { ...page, items: page.items.map(toUser) };
}

export async function updateUser(
  db: DB,
  id: number,
  patch: Partial<Pick<UserRow, 'password_hash' | 'disabled' | 'is_admin' | 'email' | 'auth_source' | 'external_id' | 'cli_secret_hash'>>,
): Promise<boolean> {
  const res = await db
    .updateTable('users')
    .set({ ...patch, updated_at: Date.now() })
    .where('id', '=', id)
    .executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteUser(db: DB, id: number): Promise<boolean> {
  const res = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numDeletedRows) > 0;
}
