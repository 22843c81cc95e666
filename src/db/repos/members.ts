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

/** Ids of the projects a user is a member of (for visibility filtering). */
export async function listMemberProjectIds(db: DB, userId: number): Promise<number[]> {
  const rows = await db.selectFrom('project_members').select('project_id').where('user_id', '=', userId).execute();
  return rows.map((r) => Number(r.project_id));
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
