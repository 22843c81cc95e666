import { sql } from 'kysely';
import type { DB } from '../connect.js';

/** What holds on to a manifest inside one repository: its tags, the indexes that list it, the referrers that name it. */
export interface ArtifactLinks {
  id: number;
  digest: string;
  tags: string[];
  /** digests of indexes in the same repository that list this artifact */
  parents: string[];
}

/** The artifacts of a repository with these digests (missing ones are left out), with their tags and listing indexes. */
export async function artifactLinks(db: DB, repositoryId: number, digests: string[]): Promise<ArtifactLinks[]> {
  const out: ArtifactLinks[] = [];
  for (let i = 0; i < digests.length; i += 500) {
    const chunk = digests.slice(i, i + 500);
    const rows = await db.selectFrom('artifacts').select(['id', 'digest']).where('repository_id', '=', repositoryId).where('digest', 'in', chunk).execute();
    if (!rows.length) continue;
    const ids = rows.map((r) => Number(r.id));
    const tags = await db.selectFrom('tags').select(['artifact_id', 'name']).where('artifact_id', 'in', ids).orderBy('name').execute();
    const parents = await db
      .selectFrom('artifact_children as c')
      .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
      .select(['c.child_digest', 'p.digest'])
      .where('p.repository_id', '=', repositoryId)
      .where('c.child_digest', 'in', chunk)
      .execute();
    for (const r of rows) {
      out.push({
        id: Number(r.id),
        digest: r.digest,
        tags: tags.filter((t) => Number(t.artifact_id) === Number(r.id)).map((t) => t.name),
        parents: [...new Set(parents.filter((p) => p.child_digest === r.digest).map((p) => p.digest))],
      });
    }
  }
  return out;
}

/** Which of these digests a repository holds (looked up 500 at a time). */
export async function knownDigests(db: DB, repositoryId: number, digests: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < digests.length; i += 500) {
    const rows = await db
      .selectFrom('artifacts')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', digests.slice(i, i + 500))
      .execute();
    for (const r of rows) out.add(r.digest);
  }
  return out;
}

/** One page of a repository's tag names, by name after `after` (keyset on `tags_repo_list_idx`). */
export async function repositoryTagNames(db: DB, repositoryId: number, after: string | null, limit: number): Promise<string[]> {
  let q = db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId);
  if (after !== null) q = q.where('name', '>', after);
  return (await q.orderBy('name').limit(limit).execute()).map((r) => r.name);
}

/**
 * One page (by id after `afterId`) of a repository's artifacts that nothing left in it points at: no index of the
 * repository lists them, and (`withSubject`) no referrer of it names them. Deleting these first never leaves a kept
 * manifest pointing at a missing one; what they pointed at is free on the next pass.
 */
export async function unreferencedArtifacts(db: DB, repositoryId: number, afterId: number, limit: number, withSubject: boolean): Promise<{ id: number; digest: string }[]> {
  const referrer = withSubject ? sql`and not exists (select 1 from artifacts r where r.repository_id = ${repositoryId} and r.subject_digest = a.digest)` : sql``;
  const rows = await sql<{ id: number; digest: string }>`select a.id, a.digest from artifacts a
    where a.repository_id = ${repositoryId} and a.id > ${afterId}
      and not exists (select 1 from artifact_children c inner join artifacts p on p.id = c.parent_id where c.child_digest = a.digest and p.repository_id = ${repositoryId})
      ${referrer}
    order by a.id limit ${limit}`.execute(db);
  return rows.rows.map((r) => ({ id: Number(r.id), digest: r.digest }));
}

/** One page of a repository's artifacts by id after `afterId`, whatever points at them. */
export async function artifactsAfter(db: DB, repositoryId: number, afterId: number, limit: number): Promise<{ id: number; digest: string }[]> {
  const rows = await db.selectFrom('artifacts').select(['id', 'digest']).where('repository_id', '=', repositoryId).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: Number(r.id), digest: r.digest }));
}

/** Whether `artifacts.subject_digest` exists (OCI referrers: signatures, SBOMs, attestations); read once per process. */
export async function hasSubjectColumn(db: DB): Promise<boolean> {
  const tables = await db.introspection.getTables();
  return !!tables.find((t) => t.name === 'artifacts')?.columns.some((c) => c.name === 'subject_digest');
}

/**
 * Digests of the artifacts in a repository whose `subject` is one of these digests (their referrers). Only call when
 * {@link hasSubjectColumn} said yes: the column comes with the referrers feature.
 */
export async function referrersOf(db: DB, repositoryId: number, subjects: string[]): Promise<{ digest: string; subject: string }[]> {
  const out: { digest: string; subject: string }[] = [];
  for (let i = 0; i < subjects.length; i += 500) {
    const chunk = subjects.slice(i, i + 500);
    const rows = await sql<{
      digest: string;
      subject: string;
    }>`select digest, subject_digest as subject from artifacts where repository_id = ${repositoryId} and subject_digest in (${sql.join(chunk)})`.execute(db);
    out.push(...rows.rows);
  }
  return out;
}

/** Every artifact of every repository as a reference graph, for garbage collection. */
export interface RepositoryGraph {
  repositoryId: number;
  name: string;
  artifacts: { id: number; digest: string; tagged: boolean; manifestSize: number; subject: string | null }[];
  /** parent digest → child digests */
  children: Map<string, string[]>;
}

/** The reference graph of one repository. `withSubject` reads `artifacts.subject` (see {@link hasSubjectColumn}). */
export async function repositoryGraph(db: DB, repositoryId: number, name: string, withSubject: boolean): Promise<RepositoryGraph> {
  const rows = withSubject
    ? (
        await sql<{
          id: number;
          digest: string;
          manifest_size: number;
          subject: string | null;
        }>`select id, digest, manifest_size, subject_digest as subject from artifacts where repository_id = ${repositoryId}`.execute(db)
      ).rows
    : (await db.selectFrom('artifacts').select(['id', 'digest', 'manifest_size']).where('repository_id', '=', repositoryId).execute()).map((r) => ({ ...r, subject: null }));
  const tagged = new Set((await db.selectFrom('tags').select('artifact_id').where('repository_id', '=', repositoryId).execute()).map((t) => Number(t.artifact_id)));
  const links = await db
    .selectFrom('artifact_children as c')
    .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
    .select(['p.digest', 'c.child_digest'])
    .where('p.repository_id', '=', repositoryId)
    .execute();
  const children = new Map<string, string[]>();
  for (const l of links) children.set(l.digest, [...(children.get(l.digest) ?? []), l.child_digest]);
  return {
    repositoryId,
    name,
    artifacts: rows.map((r) => ({ id: Number(r.id), digest: r.digest, tagged: tagged.has(Number(r.id)), manifestSize: Number(r.manifest_size), subject: r.subject ?? null })),
    children,
  };
}

/** For each of these blob digests, how many artifacts (anywhere) reference it; looked up 500 at a time. */
export async function blobReferenceCounts(db: DB, digests: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < digests.length; i += 500) {
    const rows = await db
      .selectFrom('artifact_blobs')
      .select((e) => ['digest', e.fn.count<number>('artifact_id').distinct().as('n')])
      .where('digest', 'in', digests.slice(i, i + 500))
      .groupBy('digest')
      .execute();
    for (const r of rows) out.set(r.digest, Number(r.n));
  }
  return out;
}

/** Blob digests (layers, configs) of these artifacts, each with the size Berth recorded. */
export async function blobsOf(db: DB, artifactIds: number[]): Promise<Map<number, { digest: string; size: number }[]>> {
  const out = new Map<number, { digest: string; size: number }[]>();
  for (let i = 0; i < artifactIds.length; i += 500) {
    const rows = await db
      .selectFrom('artifact_blobs')
      .select(['artifact_id', 'digest', 'size'])
      .where('artifact_id', 'in', artifactIds.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(Number(r.artifact_id), [...(out.get(Number(r.artifact_id)) ?? []), { digest: r.digest, size: Number(r.size) }]);
  }
  return out;
}
