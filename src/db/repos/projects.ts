import { sql } from 'kysely';
import { retryDeadlock } from './jobs.js';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import type { ProjectRow, ProjectUpdate } from '../tables.js';
import { likeExpr } from './sql.js';
import { bumpGeneration } from './generations.js';
import { isMysqlDb, lockingTransaction } from './scan-totals.js';
import { stringList } from './json.js';
import type { GateSeverity, UnscannedPolicy } from '../../scanner/severity.js';
import { visibleProject, type Visibility } from './members.js';

export interface Project {
  id: number;
  name: string;
  public: boolean;
  ownerId: number | null;
  autoScan: boolean;
  preventVulnerable: boolean;
  severity: GateSeverity;
  cveAllowlist: string[];
  immutableTags: string[];
  quotaBytes: number | null;
  /** what the pull gate does with images that have no finished report: block (default) or allow */
  unscannedPolicy: UnscannedPolicy;
  cveAllowlistExpiresAt: number | null;
  /** cosign public keys (PEM) the signed-only policy accepts, by name */
  signatureKeys: { name: string; pem: string }[];
  /** serve only artifacts signed by one of `signatureKeys` */
  requireSignature: boolean;
  createdAt: number;
  updatedAt: number;
}

function keyList(s: string | null): { name: string; pem: string }[] {
  if (!s) return [];
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.filter((k): k is { name: string; pem: string } => !!k && typeof k.name === 'string' && typeof k.pem === 'string').map((k) => ({ name: k.name, pem: k.pem })) : [];
  } catch {
    return [];
  }
}

export const toProject = (r: ProjectRow): Project => ({
  id: Number(r.id),
  name: r.name,
  public: !!r.public,
  ownerId: r.owner_id === null ? null : Number(r.owner_id),
  autoScan: !!r.auto_scan,
  preventVulnerable: !!r.prevent_vulnerable,
  severity: r.severity as GateSeverity,
  cveAllowlist: stringList(r.cve_allowlist),
  immutableTags: stringList(r.immutable_tags),
  quotaBytes: r.quota_bytes === null ? null : Number(r.quota_bytes),
  unscannedPolicy: r.unscanned_policy === 'allow' ? 'allow' : 'block',
  cveAllowlistExpiresAt: r.cve_allowlist_expires_at === null ? null : Number(r.cve_allowlist_expires_at),
  signatureKeys: keyList(r.signature_keys),
  requireSignature: !!r.require_signature,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export async function insertProject(db: DB, p: { name: string; public: boolean; ownerId: number | null; now: number }): Promise<number> {
  const res = await db
    .insertInto('projects')
    .values({
      name: p.name,
      public: p.public ? 1 : 0,
      owner_id: p.ownerId,
      auto_scan: 1,
      prevent_vulnerable: 0,
      severity: 'critical',
      cve_allowlist: '[]',
      immutable_tags: '[]',
      quota_bytes: null,
      unscanned_policy: 'block',
      cve_allowlist_expires_at: null,
      created_at: p.now,
      updated_at: p.now,
    })
    .executeTakeFirstOrThrow();
  await bumpGeneration(db, 'access');
  return Number(res.insertId);
}

export async function findProjectByName(db: DB, name: string): Promise<Project | undefined> {
  const r = await db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
  return r && toProject(r);
}

export async function findProjectById(db: DB, id: number): Promise<Project | undefined> {
  const r = await db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toProject(r);
}

export interface ProjectListFilter {
  q?: string;
  /** which projects the caller sees */
  visible: Visibility;
  page: PageRequest;
}

/** Projects visible to a caller, by name (keyset over name, id), with a capped total. */
export async function listProjects(db: DB, f: ProjectListFilter): Promise<KeysetPage<Project>> {
  let base = db.selectFrom('projects');
  if (!f.visible.all) base = base.where(visibleProject(f.visible, 'projects.id', 'projects.public'));
  if (f.q) base = base.where(likeExpr(sql.ref('name'), f.q));
  const page = await keysetPage(
    db,
    base,
    SORTS.projects,
    f.page,
    (qb) => qb.selectAll(),
    (r) => [r.name, Number(r.id)],
  );
  return { ...page, items: page.items.map(toProject) };
}

export async function updateProjectRow(db: DB, id: number, patch: ProjectUpdate): Promise<void> {
  await db.updateTable('projects').set(patch).where('id', '=', id).execute();
  await bumpGeneration(db, 'access');
}

export async function deleteProjectRow(db: DB, id: number): Promise<boolean> {
  // One statement whose cascade locks every row of the project: a push, scan or counter update holding some of them
  // can make it the deadlock victim, which is retried (the delete is idempotent).
  const res = await retryDeadlock(() => db.deleteFrom('projects').where('id', '=', id).executeTakeFirst());
  // SQLite may hand the id to the next project: its pushes must not meet this one's quota reservations.
  await db.deleteFrom('quota_reservations').where('project_id', '=', id).execute();
  await bumpGeneration(db, 'access');
  return Number(res.numDeletedRows) > 0;
}

export async function countProjects(db: DB): Promise<number> {
  const { n } = await db
    .selectFrom('projects')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(n);
}

/**
 * Runs `fn` in one transaction that holds the project's row lock: the rule for every per-project limit decided by
 * counting rows ("at most N of these per project"), so the count and the insert it allows cannot interleave with
 * another request's, on this process or another replica. MySQL/MariaDB: READ COMMITTED and `SELECT … FOR UPDATE` on
 * the project row (each read after it sees every commit made before the lock was granted). SQLite: the first
 * statement writes (a no-op update of the row), so the single writer's lock is taken up front rather than upgraded
 * after a read, which another connection could have made stale. A deadlock victim is retried. `fn` must use the
 * transaction it gets, never `db`. Returns what `fn` returns; a project deleted meanwhile is locked as nothing (the
 * caller's insert then fails on its foreign key).
 */
export async function withProjectLock<T>(db: DB, projectId: number, fn: (trx: DB) => Promise<T>): Promise<T> {
  return lockingTransaction(db, async (trx) => {
    if (isMysqlDb(trx)) await trx.selectFrom('projects').select('id').where('id', '=', projectId).forUpdate().execute();
    else
      await trx
        .updateTable('projects')
        .set((eb) => ({ name: eb.ref('name') }))
        .where('id', '=', projectId)
        .execute();
    return fn(trx);
  });
}

/** Up to `limit` project ids greater than `afterId`, ascending (a keyset walk over every project). */
export async function listProjectIdsAfter(db: DB, afterId: number, limit: number): Promise<number[]> {
  const rows = await db.selectFrom('projects').select('id').where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => Number(r.id));
}
