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

const toUser = (r: UserRow): User => ({
  id: Number(r.id),
  username: r.username,
  email: r.email,
  isAdmin: !!r.is_admin,
  disabled: !!r.disabled,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  authSource: r.auth_source ?? 'db',
});

/** A user with what sign-in needs beyond the profile: the directory identity it is bound to and the CLI secret's hash. */
export interface UserAccount extends User {
  /** the directory's id (LDAP DN, OIDC subject); null for local users */
  externalId: string | null;
  /** hex SHA-256 of an OIDC user's CLI secret, or null */
  cliSecretHash: string | null;
}

const toUserAccount = (r: UserRow): UserAccount => ({ ...toUser(r), externalId: r.external_id, cliSecretHash: r.cli_secret_hash });

/** A user with the hash a password is checked against: for the account service's password checks, never for a view. */
export interface UserCredentials extends User {
  passwordHash: string;
}

/** The profile of a user read with its credentials (the hash left out). */
export const profileOf = ({ passwordHash: _p, ...user }: UserCredentials): User => user;

/** A user to create: `passwordHash` is a hash (directory users get one no password matches); times in epoch ms. */
export interface NewUser {
  username: string;
  email: string | null;
  passwordHash: string;
  isAdmin: boolean;
  /** `db` (default), `ldap` or `oidc` */
  authSource?: string;
  externalId?: string | null;
  createdAt: number;
}

/** What may change on a user; fields left out stay as they are. */
export interface UserPatch {
  passwordHash?: string;
  disabled?: boolean;
  isAdmin?: boolean;
  email?: string | null;
  authSource?: string;
  externalId?: string | null;
  cliSecretHash?: string | null;
}

const patchRow = (p: UserPatch): Partial<Pick<UserRow, 'password_hash' | 'disabled' | 'is_admin' | 'email' | 'auth_source' | 'external_id' | 'cli_secret_hash'>> => ({
  ...(p.passwordHash !== undefined && { password_hash: p.passwordHash }),
  ...(p.disabled !== undefined && { disabled: p.disabled ? 1 : 0 }),
  ...(p.isAdmin !== undefined && { is_admin: p.isAdmin ? 1 : 0 }),
  ...(p.email !== undefined && { email: p.email }),
  ...(p.authSource !== undefined && { auth_source: p.authSource }),
  ...(p.externalId !== undefined && { external_id: p.externalId }),
  ...(p.cliSecretHash !== undefined && { cli_secret_hash: p.cliSecretHash }),
});

/** Inserts a user; returns its id. A taken username throws the driver's unique violation (`isUniqueViolation`). */
export async function insertUser(db: DB, u: NewUser): Promise<number> {
  const row: NewUserRow = {
    username: u.username,
    email: u.email,
    password_hash: u.passwordHash,
    is_admin: u.isAdmin ? 1 : 0,
    disabled: 0,
    created_at: u.createdAt,
    updated_at: u.createdAt,
    ...(u.authSource !== undefined && { auth_source: u.authSource }),
    ...(u.externalId !== undefined && { external_id: u.externalId }),
  };
  const res = await db.insertInto('users').values(row).executeTakeFirstOrThrow();
  await bumpGeneration(db, 'access');
  return Number(res.insertId);
}

function findUserRowByName(db: DB, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

/** A user by name, mapped. */
export async function findUserByName(db: DB, username: string): Promise<User | undefined> {
  const r = await findUserRowByName(db, username);
  return r && toUser(r);
}

function findUserRowById(db: DB, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A user by id, mapped. */
export async function findUserById(db: DB, id: number): Promise<User | undefined> {
  const r = await findUserRowById(db, id);
  return r && toUser(r);
}

/** A user and its password hash by exact stored name (the row the name finds; the caller compares the name). */
export async function findUserCredentialsByName(db: DB, username: string): Promise<UserCredentials | undefined> {
  const r = await findUserRowByName(db, username);
  return r && { ...toUser(r), passwordHash: r.password_hash };
}

/** A user and its password hash by id. */
export async function findUserCredentialsById(db: DB, id: number): Promise<UserCredentials | undefined> {
  const r = await findUserRowById(db, id);
  return r && { ...toUser(r), passwordHash: r.password_hash };
}

/** A user's account (profile, directory binding, CLI secret hash) by exact name, mapped. */
export async function findUserAccountByName(db: DB, username: string): Promise<UserAccount | undefined> {
  const r = await findUserRowByName(db, username);
  return r && toUserAccount(r);
}

/** A user's account by id, mapped. */
export async function findUserAccountById(db: DB, id: number): Promise<UserAccount | undefined> {
  const r = await findUserRowById(db, id);
  return r && toUserAccount(r);
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

/** Changes a user (and `updated_at`); false when no such user. */
export async function updateUser(db: DB, id: number, patch: UserPatch): Promise<boolean> {
  const res = await db
    .updateTable('users')
    .set({ ...patchRow(patch), updated_at: Date.now() })
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
