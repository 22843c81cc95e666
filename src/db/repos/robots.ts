import type { Selectable } from 'kysely';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import type { RobotsTable } from '../tables.js';
import type { RobotAction } from '../../auth/principal.js';
import { announceLocalBump, bumpGeneration } from './generations.js';

export interface RobotRecord {
  id: number;
  name: string;
  projectId: number | null;
  description: string | null;
  secretHash: string;
  disabled: boolean;
  expiresAt: number | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export interface RobotGrant {
  projectId: number;
  projectName: string;
  actions: RobotAction[];
}

type Row = Selectable<RobotsTable>;

const toRobot = (r: Row): RobotRecord => ({
  id: Number(r.id),
  name: r.name,
  projectId: r.project_id === null ? null : Number(r.project_id),
  description: r.description,
  secretHash: r.secret_hash,
  disabled: !!r.disabled,
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export async function insertRobot(
  db: DB,
  r: { name: string; projectId: number | null; description: string | null; secretHash: string; expiresAt: number | null; createdBy: string; now: number },
  grants: { projectId: number; actions: RobotAction[] }[],
): Promise<number> {
  const id = await db.transaction().execute(async (trx) => {
    const res = await trx
      .insertInto('robots')
      .values({
        name: r.name,
        project_id: r.projectId,
        description: r.description,
        secret_hash: r.secretHash,
        disabled: 0,
        expires_at: r.expiresAt,
        created_by: r.createdBy,
        created_at: r.now,
        updated_at: r.now,
      })
      .executeTakeFirstOrThrow();
    const id = Number(res.insertId);
    await bumpGeneration(trx, 'access');
    if (grants.length)
      await trx
        .insertInto('robot_permissions')
        .values(grants.map((g) => ({ robot_id: id, project_id: g.projectId, actions: g.actions.join(',') })))
        .execute();
    return id;
  });
  announceLocalBump(db, 'access');
  return id;
}

export async function findRobotByName(db: DB, name: string): Promise<RobotRecord | undefined> {
  const r = await db.selectFrom('robots').selectAll().where('name', '=', name).executeTakeFirst();
  return r && toRobot(r);
}

export async function findRobotById(db: DB, id: number): Promise<RobotRecord | undefined> {
  const r = await db.selectFrom('robots').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toRobot(r);
}

export async function listRobotGrants(db: DB, robotId: number): Promise<RobotGrant[]> {
  const rows = await db
    .selectFrom('robot_permissions as rp')
    .innerJoin('projects as p', 'p.id', 'rp.project_id')
    .select(['rp.project_id', 'p.name', 'rp.actions'])
    .where('rp.robot_id', '=', robotId)
    .orderBy('p.name')
    .execute();
  return rows.map((r) => ({ projectId: Number(r.project_id), projectName: r.name, actions: r.actions.split(',').filter(Boolean) as RobotAction[] }));
}

/** Robots by name (keyset over name, id), all or one project's, with a capped total. */
export async function listRobots(db: DB, f: { projectId?: number; page: PageRequest }): Promise<KeysetPage<RobotRecord>> {
  let base = db.selectFrom('robots');
  if (f.projectId !== undefined) base = base.where('project_id', '=', f.projectId);
  const page = await keysetPage(
    db,
    base,
    SORTS.robots,
    f.page,
    (qb) => qb.selectAll(),
    (r) => [r.name, Number(r.id)],
  );
  return { ...page, items: page.items.map(toRobot) };
}

export async function updateRobot(db: DB, id: number, patch: { disabled?: number; secret_hash?: string; expires_at?: number | null; description?: string | null }): Promise<void> {
  await db
    .updateTable('robots')
    .set({ ...patch, updated_at: Date.now() })
    .where('id', '=', id)
    .execute();
  await bumpGeneration(db, 'access');
}

export async function replaceRobotGrants(db: DB, robotId: number, grants: { projectId: number; actions: RobotAction[] }[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('robot_permissions').where('robot_id', '=', robotId).execute();
    await bumpGeneration(trx, 'access');
    if (grants.length)
      await trx
        .insertInto('robot_permissions')
        .values(grants.map((g) => ({ robot_id: robotId, project_id: g.projectId, actions: g.actions.join(',') })))
        .execute();
  });
  announceLocalBump(db, 'access');
}

export async function deleteRobot(db: DB, id: number): Promise<boolean> {
  const res = await db.deleteFrom('robots').where('id', '=', id).executeTakeFirst();
  await bumpGeneration(db, 'access');
  return Number(res.numDeletedRows) > 0;
}
