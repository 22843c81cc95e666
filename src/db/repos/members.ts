import { sql } from 'kysely';
import type { DB } from '../connect.js';
import { bumpGeneration } from './generations.js';

export interface MemberRow {
  userId: number;
  username: string;
  roleId: number;
  createdAt: number;
}

export async function insertMember(db: DB, m: { projectId: number; userId: number; roleId: number; now: number }): Promise<void> {
  await db.insertInto('project_members').values({ project_id: m.projectId, user_id: m.userId, role_id: m.roleId, created_at: m.now }).execute();
  await bumpGeneration(db, 'access');
}

export async function findMemberRoleId(db: DB, projectId: number, userId: number): Promise<number | undefined> {
  const r = await db.selectFrom('project_members').select('role_id').where('project_id', '=', projectId).where('user_id', '=', userId).executeTakeFirst();
  return r ? Number(r.role_id) : undefined;
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

/** A row of the combined member list: a user (`userId`, `name` = username) or a group (`groupId`, `name` = group). */
export interface AnyMemberRow {
  kind: 'user' | 'group';
  /** the user id for users, the group membership id for groups */
  id: number;
  name: string;
  roleId: number;
  createdAt: number;
}

/** Users and groups of a project in one list: users first, each part ordered by name; paginated. */
export async function listAllMembers(db: DB, projectId: number, opts: { limit: number; offset: number }): Promise<{ items: AnyMemberRow[]; total: number }> {
  const users = db
    .selectFrom('project_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .where('m.project_id', '=', projectId)
    .select([sql<number>`0`.as('kind'), 'm.user_id as id', 'u.username as name', 'm.role_id', 'm.created_at']);
  const groups = db
    .selectFrom('project_group_members as g')
    .where('g.project_id', '=', projectId)
    .select([sql<number>`1`.as('kind'), 'g.id as id', 'g.group_name as name', 'g.role_id', 'g.created_at']);
  const rows = await users.unionAll(groups).orderBy('kind').orderBy('name').limit(opts.limit).offset(opts.offset).execute();
  const [u, g] = await Promise.all([
    db.selectFrom('project_members').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow(),
    db.selectFrom('project_group_members').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow(),
  ]);
  return {
    items: rows.map((r) => ({ kind: Number(r.kind) === 0 ? 'user' : 'group', id: Number(r.id), name: r.name, roleId: Number(r.role_id), createdAt: Number(r.created_at) })),
    total: Number(u.n) + Number(g.n),
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

export async function listMembers(db: DB, projectId: number, opts: { limit: number; offset: number }): Promise<{ items: MemberRow[]; total: number }> {
  const base = db.selectFrom('project_members as m').innerJoin('users as u', 'u.id', 'm.user_id').where('m.project_id', '=', projectId);
  const rows = await base
    .select(['m.user_id', 'u.username', 'm.role_id', 'm.created_at'])
    .orderBy('u.username')
    .limit(opts.limit)
    .offset(opts.offset)
    .execute();
  const { n } = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return {
    items: rows.map((r) => ({ userId: Number(r.user_id), username: r.username, roleId: Number(r.role_id), createdAt: Number(r.created_at) })),
    total: Number(n),
  };
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
export async function listMemberProjectIds(db: DB, userId: number): Promise<number[]> {
  const direct = db.selectFrom('project_members').select('project_id').where('user_id', '=', userId);
  const viaGroup = db
    .selectFrom('project_group_members as g')
    .innerJoin('user_groups as ug', 'ug.group_name', 'g.group_name')
    .select('g.project_id')
    .where('ug.user_id', '=', userId);
  const rows = await direct.union(viaGroup).execute();
  return [...new Set(rows.map((r) => Number(r.project_id)))];
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
