import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import { bumpGeneration } from './generations.js';

export async function insertMember(db: DB, m: { projectId: number; userId: number; roleId: number; now: number }): Promise<void> {
  await db.insertInto('project_members').values({ project_id: m.projectId, user_id: m.userId, role_id: m.roleId, created_at: m.now }).execute();
  await bumpGeneration(db, 'access');
}

/**
 * A user's effective role id in a project: the highest (lowest id: admin 1 < developer 2 < guest 3) of their direct
 * membership and the memberships of the groups they had at their last sign-in. Undefined when neither exists.
 */
export async function findEffectiveRoleId(db: DB, projectId: number, userId: number): Promise<number | undefined> {
  const direct = db.selectFrom('project_members').select('role_id').where('project_id', '=', projectId).where('user_id', '=', userId);
  const viaGroup = db
    .selectFrom('project_group_members as g')
    .innerJoin('user_groups as ug', 'ug.group_name', 'g.group_name')
    .select('g.role_id')
    .where('g.project_id', '=', projectId)
    .where('ug.user_id', '=', userId);
  const rows = await direct.unionAll(viaGroup).execute();
  if (!rows.length) return undefined;
  return Math.min(...rows.map((r) => Number(r.role_id)));
}

/**
 * A user's effective role id in each of the given projects (as {@link findEffectiveRoleId}), for one page of the
 * project list: one query over the page's ids, direct and group memberships together. Projects where the user has
 * no role are left out.
 */
export async function findEffectiveRoleIds(db: DB, projectIds: number[], userId: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!projectIds.length) return out;
  const direct = db.selectFrom('project_members').select(['project_id', 'role_id']).where('project_id', 'in', projectIds).where('user_id', '=', userId);
  const viaGroup = db
    .selectFrom('project_group_members as g')
    .innerJoin('user_groups as ug', 'ug.group_name', 'g.group_name')
    .select(['g.project_id', 'g.role_id'])
    .where('g.project_id', 'in', projectIds)
    .where('ug.user_id', '=', userId);
  for (const r of await direct.unionAll(viaGroup).execute()) {
    const id = Number(r.project_id);
    const role = Number(r.role_id);
    out.set(id, Math.min(role, out.get(id) ?? role));
  }
  return out;
}

/** A row of the combined member list: a user (`userId`, `name` = username) or a group (`groupId`, `name` = group). */
export interface AnyMemberRow {
  kind: 'user' | 'group';
  /** the user id for users, the group membership id for groups */
  id: number;
  name: string;
  roleId: number;
  createdAt: number;
}

/** Users and groups of a project in one list: users first, each part ordered by name (keyset over kind, name, id). */
export async function listAllMembers(db: DB, projectId: number, req: PageRequest): Promise<KeysetPage<AnyMemberRow>> {
  const users = db
    .selectFrom('project_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .where('m.project_id', '=', projectId)
    .select([sql<number>`0`.as('kind'), 'm.user_id as id', 'u.username as name', 'm.role_id', 'm.created_at']);
  const groups = db
    .selectFrom('project_group_members as g')
    .where('g.project_id', '=', projectId)
    .select([sql<number>`1`.as('kind'), 'g.id as id', 'g.group_name as name', 'g.role_id', 'g.created_at']);
  const base = db.selectFrom(users.unionAll(groups).as('x'));
  const page = await keysetPage(
    db,
    base,
    SORTS.members,
    req,
    (qb) => qb.selectAll(),
    (r) => [Number(r.kind), r.name, Number(r.id)],
  );
  return {
    ...page,
    items: page.items.map((r) => ({ kind: Number(r.kind) === 0 ? 'user' : 'group', id: Number(r.id), name: r.name, roleId: Number(r.role_id), createdAt: Number(r.created_at) })),
  };
}

export async function insertGroupMember(db: DB, m: { projectId: number; group: string; roleId: number; now: number }): Promise<number> {
  const res = await db.insertInto('project_group_members').values({ project_id: m.projectId, group_name: m.group, role_id: m.roleId, created_at: m.now }).executeTakeFirstOrThrow();
  await bumpGeneration(db, 'access');
  return Number(res.insertId);
}

export async function findGroupMember(db: DB, projectId: number, id: number): Promise<{ id: number; group: string; roleId: number; createdAt: number } | undefined> {
  const r = await db.selectFrom('project_group_members').selectAll().where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  return r && { id: Number(r.id), group: r.group_name, roleId: Number(r.role_id), createdAt: Number(r.created_at) };
}

export async function updateGroupMemberRole(db: DB, projectId: number, id: number, roleId: number): Promise<boolean> {
  const res = await db.updateTable('project_group_members').set({ role_id: roleId }).where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteGroupMember(db: DB, projectId: number, id: number): Promise<boolean> {
  const res = await db.deleteFrom('project_group_members').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numDeletedRows) > 0;
}

export async function updateMemberRole(db: DB, projectId: number, userId: number, roleId: number): Promise<boolean> {
  const res = await db.updateTable('project_members').set({ role_id: roleId }).where('project_id', '=', projectId).where('user_id', '=', userId).executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteMember(db: DB, projectId: number, userId: number): Promise<boolean> {
  const res = await db.deleteFrom('project_members').where('project_id', '=', projectId).where('user_id', '=', userId).executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numDeletedRows) > 0;
}

/** Ids of the projects a user is a member of, directly or through a group (for visibility filtering). */
/**
 * Which projects a caller sees besides the public ones: every project (system admin), a user's (direct or through a
 * group: asked of the database in the query that lists, so a user in thousands of projects never has them all read
 * into memory nor sent back as thousands of parameters), or a robot's (the ones it holds permissions in, known already).
 */
export type Visibility = { all: true } | { all: false; userId: number } | { all: false; projectIds: number[] };

/**
 * The SQL condition "this project is visible" for a {@link Visibility}, on a project id column and the project's
 * `public` column of the query it goes into, both qualified with their table (each membership test an indexed lookup: `project_members_user_idx`,
 * the `user_groups` key).
 */
export function visibleProject(v: Visibility, idColumn: string, publicColumn: string): RawBuilder<SqlBool> {
  const id = sql.ref(idColumn);
  const pub = sql`${sql.ref(publicColumn)} = 1`;
  if (v.all) return sql<SqlBool>`1 = 1`;
  if ('projectIds' in v) return v.projectIds.length ? sql<SqlBool>`(${pub} or ${id} in (${sql.join(v.projectIds)}))` : sql<SqlBool>`${pub}`;
  return sql<SqlBool>`(${pub}
    or exists (select 1 from project_members pm where pm.user_id = ${v.userId} and pm.project_id = ${id})
    or exists (select 1 from project_group_members pg inner join user_groups ug on ug.group_name = pg.group_name where ug.user_id = ${v.userId} and pg.project_id = ${id}))`;
}

export async function countAdmins(db: DB, projectId: number, adminRoleId: number): Promise<number> {
  const { n } = await db
    .selectFrom('project_members')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId)
    .where('role_id', '=', adminRoleId)
    .executeTakeFirstOrThrow();
  return Number(n);
}
