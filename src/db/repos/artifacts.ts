import { sql } from 'kysely';
import type { Expression, ExpressionBuilder, Selectable, SqlBool } from 'kysely';
import type { DB } from '../connect.js';
import type { ArtifactsTable, Database } from '../tables.js';
import { isUniqueViolation } from '../../errors.js';
import { likeExpr } from './sql.js';
import { retryDeadlock } from './jobs.js';
import { addToProjectTotals, severityTotals, contributionOf, isMysqlDb, lockingTransaction, lockReportCounts, negate, REPORT_COUNT_COLUMNS, ZERO } from './scan-totals.js';
import { deleteReservationsOf } from './quota-reservations.js';
import { type KeysetPage, type PageRequest, SORTS, TOTAL_CAP } from '../../paging.js';
import { countUpTo, keysetPage } from './keyset.js';
import { isArtifactType, isReferrerType, typeOfRow, type ArtifactType } from '../../registry/artifact-type.js';

/** A repository as lists show it: with the number of its artifacts. */
export interface RepositoryRow extends Repository {
  artifactCount: number;
}

export interface ArtifactRecord {
  id: number;
  repositoryId: number;
  digest: string;
  mediaType: string;
  manifestSize: number;
  size: number;
  configDigest: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  created: string | null;
  pushedAt: number;
  pulledAt: number | null;
  pullCount: number;
  pushedBy: string | null;
  type: ArtifactType;
  /** the manifest's `artifactType` (OCI 1.1), raw */
  artifactType: string | null;
  configMediaType: string | null;
  /** the digest this artifact refers to (OCI 1.1 `subject`, or a cosign `sha256-<hex>.sig` tag), else null */
  subject: string | null;
  annotations: Record<string, string> | null;
  /** for a signature: the project keys it verified with (the subject's signers are the union over its signatures) */
  signedBy: string[];
}

/** What an import learns about an artifact from its manifest and config. */
export interface ArtifactFacts
  extends Pick<ArtifactRecord, 'mediaType' | 'manifestSize' | 'size' | 'configDigest' | 'os' | 'architecture' | 'variant' | 'created' | 'pushedAt' | 'pushedBy'>,
    /* absent: not classified (the row keeps type null until an import classifies it) */
    Partial<Pick<ArtifactRecord, 'type' | 'artifactType' | 'configMediaType' | 'subject' | 'annotations'>> {
  blobs: { digest: string; mediaType: string; size: number }[];
  children: { digest: string; mediaType: string; size: number; platform: string | null }[];
}

/** The repository's id, created on first sight (concurrent creators both end with the same row). */
export async function ensureRepository(db: DB, projectId: number, name: string, now: number): Promise<number> {
  const found = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  if (found) return Number(found.id);
  try {
    const res = await db.insertInto('repositories').values({ project_id: projectId, name, created_at: now, updated_at: now }).executeTakeFirstOrThrow();
    return Number(res.insertId);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const again = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirstOrThrow();
    return Number(again.id);
  }
}

/** A repository as the services see it. */
export interface Repository {
  id: number;
  projectId: number;
  name: string;
  pullCount: number;
  createdAt: number;
  updatedAt: number;
}

export async function findRepository(db: DB, name: string): Promise<Repository | undefined> {
  const r = await db.selectFrom('repositories').selectAll().where('name', '=', name).executeTakeFirst();
  return r && { id: Number(r.id), projectId: Number(r.project_id), name: r.name, pullCount: Number(r.pull_count), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

/** Inserts or refreshes an artifact with its blobs and children; returns its id. */
export async function upsertArtifact(db: DB, repositoryId: number, digest: string, f: ArtifactFacts): Promise<number> {
  // Two imports into one repository take turns on its row (locked first, see below); a deadlock victim (the whole
  // upsert is idempotent) is run again.
  const id = await retryDeadlock(() => upsertArtifactOnce(db, repositoryId, digest, f));
  // Counted by the usage from the commit above on: a quota reservation of the push would count it twice. Removed after
  // that commit, not inside it (which would take a lock after the project counters' and could deadlock with a quota
  // decision holding the project row): until then the manifest's bytes count twice for a moment, never zero times.
  await deleteReservationsOf(db, repositoryId, digest);
  return id;
}

async function upsertArtifactOnce(db: DB, repositoryId: number, digest: string, f: ArtifactFacts): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const values = {
      media_type: f.mediaType.slice(0, 255),
      manifest_size: f.manifestSize,
      size: f.size,
      config_digest: f.configDigest,
      os: f.os?.slice(0, 32) ?? null,
      architecture: f.architecture?.slice(0, 32) ?? null,
      variant: f.variant?.slice(0, 32) ?? null,
      created: f.created?.slice(0, 64) ?? null,
      type: f.type ?? null,
      artifact_type: f.artifactType?.slice(0, 255) ?? null,
      config_media_type: f.configMediaType?.slice(0, 255) ?? null,
      subject_digest: f.subject?.slice(0, 100) ?? null,
      annotations: f.annotations ? JSON.stringify(f.annotations) : null,
    };
    // The repository row is locked first. Otherwise two imports into one repository both read-lock it (the artifact
    // insert's foreign key check) and then both ask to update it: a deadlock. They did, and while a counter recount
    // holds the project's counters (both then wait behind it), often enough to use up the retries.
    if (isMysqlDb(trx)) await trx.selectFrom('repositories').select('id').where('id', '=', repositoryId).forUpdate().execute();
    const existing = await trx.selectFrom('artifacts').select(['id', 'pushed_at']).where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    let id: number;
    let inserted = false;
    if (existing) {
      id = Number(existing.id);
      const newer = f.pushedAt > Number(existing.pushed_at);
      // A digest's subject never changes; one learnt from a cosign tag is kept when the manifest is read without it.
      const { subject_digest, ...rest } = values;
      await trx
        .updateTable('artifacts')
        .set({ ...rest, ...(subject_digest ? { subject_digest } : {}), ...(newer ? { pushed_at: f.pushedAt, pushed_by: f.pushedBy?.slice(0, 255) ?? null } : {}) })
        .where('id', '=', id)
        .execute();
    } else {
      try {
        const res = await trx
          .insertInto('artifacts')
          .values({ ...values, repository_id: repositoryId, digest, pushed_at: f.pushedAt, pushed_by: f.pushedBy?.slice(0, 255) ?? null, pulled_at: null })
          .executeTakeFirstOrThrow();
        id = Number(res.insertId);
        inserted = true;
      } catch (err) {
        // A concurrent import (a notification and reconciliation, two replicas) inserted it first: refresh that row.
        if (!isUniqueViolation(err)) throw err;
        const again = await trx.selectFrom('artifacts').select('id').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirstOrThrow();
        id = Number(again.id);
        const { subject_digest, ...rest } = values;
        await trx
          .updateTable('artifacts')
          .set({ ...rest, ...(subject_digest ? { subject_digest } : {}) })
          .where('id', '=', id)
          .execute();
      }
    }
    await trx.deleteFrom('artifact_blobs').where('artifact_id', '=', id).execute();
    if (f.blobs.length) {
      await trx
        .insertInto('artifact_blobs')
        .values(f.blobs.map((b, position) => ({ artifact_id: id, digest: b.digest.slice(0, 100), media_type: b.mediaType.slice(0, 255), size: b.size, position })))
        .execute();
    }
    await trx.deleteFrom('artifact_children').where('parent_id', '=', id).execute();
    const seen = new Set<string>();
    const children = f.children.filter((c) => !seen.has(c.digest) && seen.add(c.digest));
    if (children.length) {
      await trx
        .insertInto('artifact_children')
        .values(children.map((c) => ({ parent_id: id, child_digest: c.digest.slice(0, 100), media_type: c.mediaType.slice(0, 255), size: c.size, platform: c.platform?.slice(0, 128) ?? null })))
        .execute();
    }
    await trx
      .updateTable('repositories')
      // updated_at is the newest push's time: a late or duplicate event does not move it back. created_at is the
      // earliest push's: the first push's event, arriving after a later push's had created the row, moves it back.
      .set((eb) => ({
        updated_at: sql<number>`case when updated_at < ${Math.max(f.pushedAt, 0)} then ${Math.max(f.pushedAt, 0)} else updated_at end`,
        ...(f.pushedAt > 0 ? { created_at: sql<number>`case when created_at > ${f.pushedAt} then ${f.pushedAt} else created_at end` } : {}),
        ...(inserted ? { artifact_count: eb('artifact_count', '+', 1) } : {}),
      }))
      .where('id', '=', repositoryId)
      .execute();
    if (inserted) {
      // The project's artifact count moves with the row, in this transaction and last (every writer of the counters
      // takes their row lock last, so they cannot deadlock with each other; see scan-totals.ts).
      const repo = await trx.selectFrom('repositories').select('project_id').where('id', '=', repositoryId).executeTakeFirstOrThrow();
      await addToProjectTotals(trx, Number(repo.project_id), { artifacts: 1 });
    }
    return id;
  });
}

export async function findArtifactId(db: DB, repositoryId: number, digest: string): Promise<number | undefined> {
  const r = await db.selectFrom('artifacts').select('id').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  return r ? Number(r.id) : undefined;
}

/** Points a tag at an artifact (creating or moving it). */
export async function setTag(db: DB, repositoryId: number, artifactId: number, name: string, pushedAt: number): Promise<void> {
  const res = await db.updateTable('tags').set({ artifact_id: artifactId, pushed_at: pushedAt }).where('repository_id', '=', repositoryId).where('name', '=', name).executeTakeFirst();
  if (Number(res.numUpdatedRows) > 0) return;
  try {
    await db.insertInto('tags').values({ repository_id: repositoryId, artifact_id: artifactId, name, pushed_at: pushedAt }).execute();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    await db.updateTable('tags').set({ artifact_id: artifactId, pushed_at: pushedAt }).where('repository_id', '=', repositoryId).where('name', '=', name).execute();
  }
}

/** Records a later push of an artifact already stored (its push time and pusher move forward only). */
export async function markPushed(db: DB, artifactId: number, pushedAt: number, pushedBy: string | null): Promise<void> {
  await db
    .updateTable('artifacts')
    .set({ pushed_at: pushedAt, pushed_by: pushedBy?.slice(0, 255) ?? null })
    .where('id', '=', artifactId)
    .where('pushed_at', '<', pushedAt)
    .execute();
}

/**
 * Points a tag at an artifact as of a push at `pushedAt`, unless the tag already records a later push (a duplicate or
 * late event must not move it back). Returns whether it changed.
 */
export async function setTagIfNewer(db: DB, repositoryId: number, artifactId: number, name: string, pushedAt: number): Promise<boolean> {
  const guarded = () =>
    db
      .updateTable('tags')
      .set({ artifact_id: artifactId, pushed_at: pushedAt })
      .where('repository_id', '=', repositoryId)
      .where('name', '=', name)
      .where('pushed_at', '<=', pushedAt)
      .executeTakeFirst();
  if (Number((await guarded()).numUpdatedRows) > 0) return true;
  const exists = await db.selectFrom('tags').select('id').where('repository_id', '=', repositoryId).where('name', '=', name).executeTakeFirst();
  if (exists) return false;
  try {
    await db.insertInto('tags').values({ repository_id: repositoryId, artifact_id: artifactId, name, pushed_at: pushedAt }).execute();
    return true;
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    return Number((await guarded()).numUpdatedRows) > 0;
  }
}

export async function deleteTag(db: DB, repositoryId: number, name: string): Promise<boolean> {
  const res = await db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', name).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Deletes an artifact (its tags, blobs, children and report go with it by foreign key) and takes it and its report's
 * contribution off its project's severity counters, in one transaction. False when there was no such artifact.
 */
export async function deleteArtifact(db: DB, repositoryId: number, digest: string): Promise<boolean> {
  return lockingTransaction(db, async (trx) => {
    // Locks in the order an import takes them (repository row, artifact, then the counters), so the two cannot
    // deadlock; the repository row is held for these few statements only.
    const mysql = isMysqlDb(trx);
    const rq = trx.selectFrom('repositories').select('project_id').where('id', '=', repositoryId);
    const repo = await (mysql ? rq.forUpdate() : rq).executeTakeFirst();
    if (!repo) return false;
    const q = trx.selectFrom('artifacts').select(['id', 'repository_id']).where('repository_id', '=', repositoryId).where('digest', '=', digest);
    const found = await (mysql ? q.forUpdate() : q).executeTakeFirst();
    if (!found) return false;
    const row = { id: found.id, project_id: repo.project_id };
    const report = contributionOf(await lockReportCounts(trx, Number(row.id)));
    const res = await trx.deleteFrom('artifacts').where('id', '=', row.id).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) return false;
    await trx
      .updateTable('repositories')
      .set((eb) => ({ artifact_count: eb('artifact_count', '-', 1) }))
      .where('id', '=', repositoryId)
      .execute();
    await addToProjectTotals(trx, Number(row.project_id), { ...negate(report), artifacts: -1 });
    return true;
  });
}

/** Removes a repository row once it holds no artifacts (as Harbor does). */
export async function deleteRepositoryIfEmpty(db: DB, repositoryId: number): Promise<void> {
  await retryDeadlock(() =>
    db
      .deleteFrom('repositories')
      .where('id', '=', repositoryId)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('artifacts').select('id').where('repository_id', '=', repositoryId))))
      .execute(),
  );
}

/**
 * Deletes a repository with whatever artifacts it still holds (by foreign key), taking them and their reports off the
 * project's severity counters in the same transaction.
 */
export async function deleteRepositoryRow(db: DB, repositoryId: number): Promise<void> {
  await lockingTransaction(db, async (trx) => {
    const mysql = isMysqlDb(trx);
    const repo = await (mysql
      ? trx.selectFrom('repositories').select('project_id').where('id', '=', repositoryId).forUpdate()
      : trx.selectFrom('repositories').select('project_id').where('id', '=', repositoryId)
    ).executeTakeFirst();
    if (!repo) return;
    const arts = trx.selectFrom('artifacts').select('id').where('repository_id', '=', repositoryId);
    const ids = (await (mysql ? arts.forUpdate() : arts).execute()).map((a) => Number(a.id));
    const total = { ...ZERO, artifacts: -ids.length };
    for (let i = 0; i < ids.length; i += 500) {
      const q = trx
        .selectFrom('scan_reports')
        .select(REPORT_COUNT_COLUMNS)
        .where('artifact_id', 'in', ids.slice(i, i + 500));
      for (const r of await (mysql ? q.forUpdate() : q).execute()) {
        const c = contributionOf(r);
        for (const k of Object.keys(ZERO) as (keyof typeof ZERO)[]) total[k] -= c[k];
      }
    }
    await trx.deleteFrom('repositories').where('id', '=', repositoryId).execute();
    await addToProjectTotals(trx, Number(repo.project_id), total);
  });
}

/**
 * Adds batched pull counts: per repository and per artifact, in that order (the order imports and deletions lock the
 * two rows in, so a transaction of pull counts cannot deadlock with them).
 */
export async function addPulls(db: DB, artifactId: number, repositoryId: number, count: number, lastAt: number): Promise<void> {
  await db
    .updateTable('repositories')
    .set((eb) => ({ pull_count: eb('pull_count', '+', count) }))
    .where('id', '=', repositoryId)
    .execute();
  await db
    .updateTable('artifacts')
    .set((eb) => ({
      pull_count: eb('pull_count', '+', count),
      pulled_at: sql<number>`case when pulled_at is null or pulled_at < ${lastAt} then ${lastAt} else pulled_at end`,
    }))
    .where('id', '=', artifactId)
    .execute();
}

/** Repositories read per query by {@link listRepositoryIdsAfter}. */
export async function listRepositoryIdsAfter(db: DB, afterId: number, limit: number): Promise<number[]> {
  const rows = await db.selectFrom('repositories').select('id').where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => Number(r.id));
}

/**
 * Recounts one repository's `artifact_count` from its artifact rows and stores it, under the repository row lock that
 * imports and deletions take first (so a concurrent one is neither lost nor counted twice). Returns the count before
 * and after, or null when the repository is gone.
 */
export async function recountRepositoryArtifacts(db: DB, repositoryId: number): Promise<{ before: number; after: number } | null> {
  return lockingTransaction(db, async (trx) => {
    const mysql = isMysqlDb(trx);
    // SQLite: write first, so the single writer's lock is held from the start.
    if (!mysql)
      await trx
        .updateTable('repositories')
        .set((eb) => ({ artifact_count: eb.ref('artifact_count') }))
        .where('id', '=', repositoryId)
        .execute();
    const q = trx.selectFrom('repositories').select('artifact_count').where('id', '=', repositoryId);
    const row = await (mysql ? q.forUpdate() : q).executeTakeFirst();
    if (!row) return null;
    const counted = await trx
      .selectFrom('artifacts')
      .select((e) => e.fn.countAll<number>().as('n'))
      .where('repository_id', '=', repositoryId)
      .executeTakeFirstOrThrow();
    const before = Number(row.artifact_count);
    const after = Number(counted.n);
    if (before !== after) await trx.updateTable('repositories').set({ artifact_count: after }).where('id', '=', repositoryId).execute();
    return { before, after };
  });
}

/** A project's repositories by name (keyset over name, id), each with its artifact count (the counter column). */
export async function listRepositories(db: DB, f: { projectId: number; q?: string; page: PageRequest }): Promise<KeysetPage<RepositoryRow>> {
  let base = db.selectFrom('repositories as r').where('r.project_id', '=', f.projectId);
  if (f.q) base = base.where(likeExpr(sql.ref('r.name'), f.q));
  const page = await keysetPage(
    db,
    base,
    SORTS.repositories,
    f.page,
    (qb) => qb.select(['r.id', 'r.project_id', 'r.name', 'r.pull_count', 'r.artifact_count', 'r.created_at', 'r.updated_at']),
    (r) => [r.name, Number(r.id)],
  );
  return {
    ...page,
    items: page.items.map((r) => ({
      id: Number(r.id),
      projectId: Number(r.project_id),
      name: r.name,
      pullCount: Number(r.pull_count),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      artifactCount: Number(r.artifact_count ?? 0),
    })),
  };
}

const toArtifact = (r: Selectable<ArtifactsTable>): ArtifactRecord => ({
  id: Number(r.id),
  repositoryId: Number(r.repository_id),
  digest: r.digest,
  mediaType: r.media_type,
  manifestSize: Number(r.manifest_size),
  size: Number(r.size),
  configDigest: r.config_digest,
  os: r.os,
  architecture: r.architecture,
  variant: r.variant,
  created: r.created,
  pushedAt: Number(r.pushed_at),
  pulledAt: r.pulled_at === null ? null : Number(r.pulled_at),
  pullCount: Number(r.pull_count),
  pushedBy: r.pushed_by,
  type: typeOfRow(r.type, r.media_type),
  artifactType: r.artifact_type,
  configMediaType: r.config_media_type,
  subject: r.subject_digest,
  annotations: parseJson<Record<string, string>>(r.annotations, (v) => !!v && typeof v === 'object' && !Array.isArray(v)),
  signedBy: parseJson<unknown[]>(r.signed_by, Array.isArray)?.filter((x): x is string => typeof x === 'string') ?? [],
});

function parseJson<T>(s: string | null, ok: (v: unknown) => boolean): T | null {
  if (!s) return null;
  try {
    const v = JSON.parse(s) as unknown;
    return ok(v) ? (v as T) : null;
  } catch {
    return null;
  }
}

/**
 * The one "top-level artifact" rule, as a condition on the `artifacts` row of a query: no index of the artifact's own
 * repository lists it as a child (a child is reached through its index: listed under it, scanned with it). An index
 * in another repository does not count: there the child is a manifest of its own.
 */
function isTopLevel({ not, exists, selectFrom }: ExpressionBuilder<Database, 'artifacts'>): Expression<SqlBool> {
  return not(
    exists(
      selectFrom('artifact_children as c')
        .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
        .select('c.parent_id')
        .whereRef('c.child_digest', '=', 'artifacts.digest')
        .whereRef('p.repository_id', '=', 'artifacts.repository_id'),
    ),
  );
}

/**
 * Artifacts of a repository, newest push first, with their tags. `topLevel`: leave out the children of an index in
 * the same repository (the UI lists them under their index, see `indexChildren`) and referrers whose subject is in
 * the same repository (the UI nests them under it, see `referrersOf`).
 */
export async function listArtifacts(db: DB, repositoryId: number, f: { page: PageRequest; topLevel?: boolean }) {
  let base = db.selectFrom('artifacts').where('repository_id', '=', repositoryId);
  if (f.topLevel) {
    base = base.where(isTopLevel);
    base = base.where((eb) =>
      eb.or([
        eb('artifacts.subject_digest', 'is', null),
        eb.not(eb.exists(eb.selectFrom('artifacts as s').select('s.id').where('s.repository_id', '=', repositoryId).whereRef('s.digest', '=', 'artifacts.subject_digest'))),
      ]),
    );
  }
  const page = await keysetPage(
    db,
    base,
    SORTS.artifacts,
    f.page,
    (qb) => qb.selectAll(),
    (r) => [Number(r.pushed_at), Number(r.id)],
  );
  return { ...page, items: page.items.map(toArtifact) };
}

/** A repository's tags, last pushed first (keyset over pushed_at, id), with the digest each points at. */
export async function listTags(db: DB, repositoryId: number, page: PageRequest): Promise<KeysetPage<{ id: number; name: string; digest: string; pushedAt: number }>> {
  const base = db.selectFrom('tags as t').where('t.repository_id', '=', repositoryId);
  const res = await keysetPage(
    db,
    base,
    SORTS.tags,
    page,
    (qb) => qb.innerJoin('artifacts as a', 'a.id', 't.artifact_id').select(['t.id', 't.name', 't.pushed_at', 'a.digest']),
    (r) => [Number(r.pushed_at), Number(r.id)],
  );
  return { ...res, items: res.items.map((r) => ({ id: Number(r.id), name: r.name, digest: r.digest, pushedAt: Number(r.pushed_at) })) };
}

/** Tag names an index child carries in the repository page's rows. */
const CHILD_TAGS_PREVIEW = 10;

export interface IndexChild {
  id: number | null;
  digest: string;
  platform: string | null;
  size: number;
  pushedAt: number | null;
  tags: string[];
}

/**
 * The manifests the given indexes list, per index id, in the index's order of insertion: each child's own artifact
 * row when it is in the repository (id null when the registry has not reported it yet).
 */
export async function indexChildren(db: DB, repositoryId: number, parentIds: number[]): Promise<Map<number, IndexChild[]>> {
  const out = new Map<number, IndexChild[]>();
  if (!parentIds.length) return out;
  const rows = await db
    .selectFrom('artifact_children as c')
    .leftJoin('artifacts as a', (j) => j.onRef('a.digest', '=', 'c.child_digest').on('a.repository_id', '=', repositoryId))
    .select(['c.parent_id', 'c.child_digest', 'c.platform', 'c.size', 'a.id', 'a.size as own_size', 'a.pushed_at'])
    .where('c.parent_id', 'in', parentIds)
    .execute();
  // A child's tags as a preview: an index's platform images rarely carry tags, but nothing stops thousands.
  const tags = await tagPreviews(
    db,
    rows.flatMap((r) => (r.id === null ? [] : [Number(r.id)])),
    CHILD_TAGS_PREVIEW,
  );
  for (const r of rows) {
    const list = out.get(Number(r.parent_id)) ?? [];
    const id = r.id === null ? null : Number(r.id);
    list.push({
      id,
      digest: r.child_digest,
      platform: r.platform,
      size: Number(r.own_size ?? r.size),
      pushedAt: r.pushed_at === null ? null : Number(r.pushed_at),
      tags: id === null ? [] : (tags.get(id)?.tags ?? []).map((t) => t.name),
    });
    out.set(Number(r.parent_id), list);
  }
  return out;
}

/** The first tags of an artifact (last pushed first, as its tag list) and how many it has: exact up to {@link TOTAL_CAP}, else null. */
export interface TagPreview {
  tags: { name: string; pushedAt: number }[];
  count: number | null;
}

/** Ids per query of the previews below (one branch each in a UNION ALL; SQLite allows 500). */
const PREVIEW_CHUNK = 100;

/**
 * The first `n` tags (last pushed first, the order of {@link listArtifactTags}) of each artifact, and each one's tag
 * count (exact up to {@link TOTAL_CAP}, else null): what artifact objects embed, so an artifact with thousands of tags
 * costs one page, not all of them. One query of per-artifact `LIMIT n + 1` branches (each an index range of
 * `tags_artifact_pushed_idx`), and a capped count only for
 * the artifacts that have more than `n`.
 */
export async function tagPreviews(db: DB, artifactIds: number[], n: number): Promise<Map<number, TagPreview>> {
  const out = new Map<number, TagPreview>();
  const ids = [...new Set(artifactIds)];
  for (let i = 0; i < ids.length; i += PREVIEW_CHUNK) {
    const chunk = ids.slice(i, i + PREVIEW_CHUNK);
    const branch = (id: number) =>
      db
        .selectFrom((eb) =>
          eb
            .selectFrom('tags')
            .select(['artifact_id', 'name', 'pushed_at', 'id'])
            .where('artifact_id', '=', id)
            .orderBy('pushed_at', 'desc')
            .orderBy('id', 'desc')
            .limit(n + 1)
            .as('x'),
        )
        .select(['x.artifact_id', 'x.name', 'x.pushed_at', 'x.id']);
    let q = branch(chunk[0]!);
    for (const id of chunk.slice(1)) q = q.unionAll(branch(id));
    const rows = await q.execute();
    const byId = new Map<number, { name: string; pushedAt: number; id: number }[]>();
    for (const r of rows) {
      const list = byId.get(Number(r.artifact_id)) ?? [];
      list.push({ name: r.name, pushedAt: Number(r.pushed_at), id: Number(r.id) });
      byId.set(Number(r.artifact_id), list);
    }
    for (const id of chunk) {
      // The union's order is not the branches': sort each artifact's few rows again.
      const list = (byId.get(id) ?? []).sort((a, b) => b.pushedAt - a.pushedAt || b.id - a.id);
      const tags = list.slice(0, n).map((t) => ({ name: t.name, pushedAt: t.pushedAt }));
      const count = list.length <= n ? list.length : await countUpTo(db, db.selectFrom('tags').where('artifact_id', '=', id), TOTAL_CAP);
      out.set(id, { tags, count });
    }
  }
  return out;
}

/** An artifact's tags, last pushed first, one keyset page. */
export async function listArtifactTags(db: DB, artifactId: number, page: PageRequest): Promise<KeysetPage<{ id: number; name: string; pushedAt: number }>> {
  const base = db.selectFrom('tags as t').where('t.artifact_id', '=', artifactId);
  const res = await keysetPage(
    db,
    base,
    SORTS.tags,
    page,
    (qb) => qb.select(['t.id', 't.name', 't.pushed_at']),
    (r) => [Number(r.pushed_at), Number(r.id)],
  );
  return { ...res, items: res.items.map((r) => ({ id: Number(r.id), name: r.name, pushedAt: Number(r.pushed_at) })) };
}

/** The referrers of one subject in a repository, oldest first (as the referrers API lists them), one keyset page. */
export async function listReferrers(db: DB, repositoryId: number, subjectDigest: string, f: { artifactType?: string; page: PageRequest }): Promise<KeysetPage<ArtifactRecord>> {
  let base = db.selectFrom('artifacts').where('artifacts.repository_id', '=', repositoryId).where('artifacts.subject_digest', '=', subjectDigest);
  if (f.artifactType !== undefined) {
    const t = f.artifactType;
    base = base.where((eb) => eb.or([eb('artifacts.artifact_type', '=', t), eb.and([eb('artifacts.artifact_type', 'is', null), eb('artifacts.config_media_type', '=', t)])]));
  }
  const res = await keysetPage(
    db,
    base,
    SORTS.referrers,
    f.page,
    (qb) => qb.selectAll('artifacts'),
    (r) => [Number(r.pushed_at), Number(r.id)],
  );
  return { ...res, items: res.items.map(toArtifact) };
}

/**
 * The first `n` referrers (oldest first) of each subject in a repository, and how many each has (exact up to
 * {@link TOTAL_CAP}, else null): what artifact objects and the repository page embed.
 */
export async function referrerPreviews(db: DB, repositoryId: number, subjects: string[], n: number): Promise<Map<string, { items: ArtifactRecord[]; count: number | null }>> {
  const out = new Map<string, { items: ArtifactRecord[]; count: number | null }>();
  const list = [...new Set(subjects)];
  for (let i = 0; i < list.length; i += PREVIEW_CHUNK) {
    const chunk = list.slice(i, i + PREVIEW_CHUNK);
    const branch = (subject: string) =>
      db
        .selectFrom((eb) =>
          eb
            .selectFrom('artifacts')
            .selectAll()
            .where('repository_id', '=', repositoryId)
            .where('subject_digest', '=', subject)
            .orderBy('pushed_at')
            .orderBy('id')
            .limit(n + 1)
            .as('x'),
        )
        .selectAll('x');
    let q = branch(chunk[0]!);
    for (const s of chunk.slice(1)) q = q.unionAll(branch(s));
    const rows = (await q.execute()).map(toArtifact);
    for (const subject of chunk) {
      const mine = rows.filter((r) => r.subject === subject).sort((a, b) => a.pushedAt - b.pushedAt || a.id - b.id);
      const count = mine.length <= n ? mine.length : await countUpTo(db, db.selectFrom('artifacts').where('repository_id', '=', repositoryId).where('subject_digest', '=', subject), TOTAL_CAP);
      if (mine.length) out.set(subject, { items: mine.slice(0, n), count });
    }
  }
  return out;
}

/** An artifact by digest, or by the tag that points at it. */
export async function findArtifact(db: DB, repositoryId: number, reference: string): Promise<ArtifactRecord | undefined> {
  let q = db.selectFrom('artifacts as a').selectAll('a').where('a.repository_id', '=', repositoryId);
  if (reference.includes(':')) q = q.where('a.digest', '=', reference);
  else q = q.innerJoin('tags as t', 't.artifact_id', 'a.id').where('t.name', '=', reference).where('t.repository_id', '=', repositoryId);
  const r = await q.executeTakeFirst();
  return r && toArtifact(r);
}

export async function artifactDetails(db: DB, artifactId: number) {
  const blobs = await db.selectFrom('artifact_blobs').select(['digest', 'media_type', 'size']).where('artifact_id', '=', artifactId).orderBy('position').execute();
  const children = await db.selectFrom('artifact_children').select(['child_digest', 'media_type', 'size', 'platform']).where('parent_id', '=', artifactId).execute();
  return {
    blobs: blobs.map((b) => ({ digest: b.digest, mediaType: b.media_type, size: Number(b.size) })),
    children: children.map((c) => ({ digest: c.child_digest, mediaType: c.media_type, size: Number(c.size), platform: c.platform })),
  };
}

/** Everything the DB believes about a repository: digests and tags (for reconciliation). */
export async function repositoryState(db: DB, repositoryId: number) {
  const artifacts = await db.selectFrom('artifacts').select(['id', 'digest']).where('repository_id', '=', repositoryId).execute();
  const tags = await db.selectFrom('tags').select(['name', 'artifact_id']).where('repository_id', '=', repositoryId).execute();
  return { artifacts: artifacts.map((a) => ({ id: Number(a.id), digest: a.digest })), tags: tags.map((t) => ({ name: t.name, artifactId: Number(t.artifact_id) })) };
}

/** One page of every repository, by name after `after` (null: from the first). */
export async function repositoriesByNameAfter(db: DB, after: string | null, limit: number): Promise<{ id: number; name: string }[]> {
  let q = db.selectFrom('repositories').select(['id', 'name']);
  if (after !== null) q = q.where('name', '>', after);
  return (await q.orderBy('name').limit(limit).execute()).map((r) => ({ id: Number(r.id), name: r.name }));
}

/** One page of every repository, by id after `afterId`. */
export async function repositoriesAfter(db: DB, afterId: number, limit: number): Promise<{ id: number; name: string }[]> {
  const rows = await db.selectFrom('repositories').select(['id', 'name']).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: Number(r.id), name: r.name }));
}

/**
 * The artifacts of a repository whose subject is `subjectDigest` (OCI 1.1 `subject`, or a cosign tag naming it),
 * oldest first, at most `limit`; optionally only those of one `artifactType` (the manifest's, else its config media
 * type, as the referrers API defines it). The one deletion path deletes these with their subject.
 */
export async function findReferrers(db: DB, repositoryId: number, subjectDigest: string, opts: { artifactType?: string; limit?: number } = {}): Promise<ArtifactRecord[]> {
  let q = db.selectFrom('artifacts').selectAll().where('repository_id', '=', repositoryId).where('subject_digest', '=', subjectDigest);
  if (opts.artifactType !== undefined) {
    const t = opts.artifactType;
    q = q.where((eb) => eb.or([eb('artifact_type', '=', t), eb.and([eb('artifact_type', 'is', null), eb('config_media_type', '=', t)])]));
  }
  const rows = await q
    .orderBy('pushed_at')
    .orderBy('id')
    .limit(opts.limit ?? 10_000)
    .execute();
  return rows.map(toArtifact);
}

/**
 * Who signed each of these digests: the union of the verified key names of the signature artifacts referring to
 * it in the repository. Deleting a signature therefore unsigns its subject with no further bookkeeping.
 */
export async function signersOf(db: DB, repositoryId: number, digests: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!digests.length) return out;
  const rows = await db
    .selectFrom('artifacts')
    // Distinct pairs: a subject with thousands of signatures by the same keys reads one row per key set.
    .select(['subject_digest', 'signed_by'])
    .distinct()
    .where('repository_id', '=', repositoryId)
    .where('type', '=', 'signature')
    .where('subject_digest', 'in', digests)
    .where('signed_by', 'is not', null)
    .execute();
  for (const r of rows) {
    const names = parseJson<unknown[]>(r.signed_by, Array.isArray)?.filter((x): x is string => typeof x === 'string') ?? [];
    const set = new Set([...(out.get(r.subject_digest!) ?? []), ...names]);
    if (set.size) out.set(r.subject_digest!, [...set].sort());
  }
  return out;
}

/** Records the key names a signature artifact verified with (empty: none). */
export async function setSignedBy(db: DB, artifactId: number, names: string[]): Promise<void> {
  await db
    .updateTable('artifacts')
    .set({ signed_by: names.length ? JSON.stringify(names).slice(0, 1024) : null })
    .where('id', '=', artifactId)
    .execute();
}

/** Signature artifacts of a project (to re-verify when its keys change). */
export async function projectSignatures(db: DB, projectId: number): Promise<{ id: number; repository: string; digest: string; subject: string | null }[]> {
  const rows = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .select(['a.id', 'r.name', 'a.digest', 'a.subject_digest'])
    .where('r.project_id', '=', projectId)
    .where('a.type', '=', 'signature')
    .execute();
  return rows.map((r) => ({ id: Number(r.id), repository: r.name, digest: r.digest, subject: r.subject_digest }));
}

/** Digests of a repository's artifacts not classified yet (imported before types existed): reconciliation re-reads them. */
export async function unclassifiedDigests(db: DB, repositoryId: number): Promise<string[]> {
  const rows = await db.selectFrom('artifacts').select('digest').where('repository_id', '=', repositoryId).where('type', 'is', null).limit(10_000).execute();
  return rows.map((r) => r.digest);
}

/** An artifact by repository name and digest, with what the pull gate needs to know about it. */
export async function findArtifactByRepositoryName(
  db: DB,
  repository: string,
  digest: string,
): Promise<{ id: number; repositoryId: number; mediaType: string; type: string | null; subject: string | null } | undefined> {
  const r = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .select(['a.id', 'a.repository_id', 'a.media_type', 'a.type', 'a.subject_digest'])
    .where('r.name', '=', repository)
    .where('a.digest', '=', digest)
    .executeTakeFirst();
  return r && { id: Number(r.id), repositoryId: Number(r.repository_id), mediaType: r.media_type, type: r.type, subject: r.subject_digest };
}

/** Digests an index lists, in its order. */
export async function listChildDigests(db: DB, parentId: number): Promise<string[]> {
  const rows = await db.selectFrom('artifact_children').select('child_digest').where('parent_id', '=', parentId).execute();
  return rows.map((r) => r.child_digest);
}

/** The indexes in a repository that list `childDigest`, with their tags (for refusing a delete that breaks them). */
export async function findParentIndexes(db: DB, repositoryId: number, childDigest: string): Promise<{ id: number; digest: string }[]> {
  const rows = await db
    .selectFrom('artifact_children as c')
    .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
    .select(['p.id', 'p.digest'])
    .where('c.child_digest', '=', childDigest)
    .where('p.repository_id', '=', repositoryId)
    .execute();
  return rows.map((r) => ({ id: Number(r.id), digest: r.digest }));
}

/** Links an artifact to the subject a cosign tag (`sha256-<hex>.sig`) names, unless its manifest named one. */
export async function setSubjectIfMissing(db: DB, artifactId: number, subject: string): Promise<void> {
  await db
    .updateTable('artifacts')
    .set({ subject_digest: subject })
    .where('id', '=', artifactId)
    .where('subject_digest', 'is', null)
    .where('type', 'in', ['signature', 'attestation', 'sbom'])
    .execute();
}

/**
 * Repositories per project, for one page of the project list: a single grouped count over the page's ids (an index
 * range of `repositories_list_idx` each), never a query per row. Projects without repositories are left out.
 */
export async function countRepositoriesByProject(db: DB, projectIds: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!projectIds.length) return out;
  const rows = await db
    .selectFrom('repositories')
    .select(['project_id', (e) => e.fn.countAll<number>().as('n')])
    .where('project_id', 'in', projectIds)
    .groupBy('project_id')
    .execute();
  for (const r of rows) out.set(Number(r.project_id), Number(r.n));
  return out;
}

/** Repositories in one project, or in all when projectId is omitted. */
export async function countRepositories(db: DB, projectId?: number): Promise<number> {
  let q = db.selectFrom('repositories').select((e) => e.fn.countAll<number>().as('n'));
  if (projectId !== undefined) q = q.where('project_id', '=', projectId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

/**
 * How many artifacts the registry holds: the sum of the per-project counters (scan-totals.ts), which move with every
 * insert and delete; `count(*)` over 1M artifacts took seconds on MariaDB and stalled the admin's dashboard.
 */
export async function countArtifacts(db: DB): Promise<number> {
  return (await severityTotals(db, { visible: { all: true } })).artifacts;
}

/** One artifact by id. */
export async function findArtifactById(db: DB, artifactId: number): Promise<ArtifactRecord | undefined> {
  const r = await db.selectFrom('artifacts').selectAll().where('id', '=', artifactId).executeTakeFirst();
  return r && toArtifact(r);
}

/** How many top-level artifacts ({@link isTopLevel}) there are. */
export async function countTopLevelArtifacts(db: DB): Promise<number> {
  const r = await db
    .selectFrom('artifacts')
    .select((e) => e.fn.countAll<number>().as('n'))
    .where(isTopLevel)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** One page of the top-level artifacts ({@link isTopLevel}: index children are reached through their index), by id after `afterId`. */
export async function listTopLevelArtifacts(db: DB, afterId: number, limit: number): Promise<{ id: number; digest: string; repository: string }[]> {
  const rows = await db
    .selectFrom('artifacts')
    .innerJoin('repositories as r', 'r.id', 'artifacts.repository_id')
    .select(['artifacts.id', 'artifacts.digest', 'r.name'])
    .where(isTopLevel)
    .where('artifacts.id', '>', afterId)
    .orderBy('artifacts.id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: Number(r.id), digest: r.digest, repository: r.name }));
}

/** One page of a project's repository names, by name after `after` (null: from the first). */
export async function listRepositoryNames(db: DB, projectId: number, after: string | null, limit: number): Promise<string[]> {
  let q = db.selectFrom('repositories').select('name').where('project_id', '=', projectId);
  if (after !== null) q = q.where('name', '>', after);
  return (await q.orderBy('name').limit(limit).execute()).map((r) => r.name);
}

/** Whether an index lists referrers only (an sha256-<hex> fallback index), judged by its children's stored types. */
export async function indexListsOnlyReferrers(db: DB, repositoryId: number, indexId: number): Promise<boolean> {
  const children = await db.selectFrom('artifact_children').select('child_digest').where('parent_id', '=', indexId).limit(256).execute();
  if (!children.length) return false;
  const rows = await db
    .selectFrom('artifacts')
    .select(['type', 'subject_digest'])
    .where('repository_id', '=', repositoryId)
    .where(
      'digest',
      'in',
      children.map((c) => c.child_digest),
    )
    .execute();
  return rows.length === children.length && rows.every((r) => r.subject_digest !== null || (isArtifactType(r.type) && isReferrerType(r.type)));
}

/** Which of these blob digests some artifact of the project references (callers chunk the digests). */
export async function findProjectBlobs(db: DB, projectId: number, digests: string[]): Promise<Set<string>> {
  if (!digests.length) return new Set();
  const rows = await db
    .selectFrom('artifact_blobs as b')
    .innerJoin('artifacts as a', 'a.id', 'b.artifact_id')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .select('b.digest')
    .distinct()
    .where('r.project_id', '=', projectId)
    .where('b.digest', 'in', digests)
    .execute();
  return new Set(rows.map((r) => r.digest));
}

/** Storage a project uses: each distinct blob once (at the size the registry stores), plus manifests. */
export async function projectUsageBytes(db: DB, projectId: number): Promise<number> {
  const blobs = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('artifact_blobs as b')
        .innerJoin('artifacts as a', 'a.id', 'b.artifact_id')
        .innerJoin('repositories as r', 'r.id', 'a.repository_id')
        .where('r.project_id', '=', projectId)
        .select((e) => ['b.digest', e.fn.max<number>('b.size').as('size')])
        .groupBy('b.digest')
        .as('d'),
    )
    .select((e) => e.fn.sum<number>('d.size').as('n'))
    .executeTakeFirst();
  const manifests = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .where('r.project_id', '=', projectId)
    .select((e) => e.fn.sum<number>('a.manifest_size').as('n'))
    .executeTakeFirst();
  return Number(blobs?.n ?? 0) + Number(manifests?.n ?? 0);
}
