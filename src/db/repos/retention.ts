import type { DB } from '../connect.js';

/** An artifact as retention sees it. */
export interface RetentionArtifact {
  id: number;
  /** repository path after the project (`app`, `team/app`) */
  repository: string;
  digest: string;
  tags: string[];
  /** epoch ms */
  pushedAt: number;
  /** epoch ms of the last pull, null when never pulled */
  pulledAt: number | null;
  size: number;
  /** digests of the indexes in the same repository that list it */
  parents: string[];
}

export interface StoredRetentionPolicy {
  rules: unknown[];
  schedule: string | null;
  updatedAt: number;
}

export async function findRetentionPolicy(db: DB, projectId: number): Promise<StoredRetentionPolicy | undefined> {
  const r = await db.selectFrom('retention_policies').selectAll().where('project_id', '=', projectId).executeTakeFirst();
  if (!r) return undefined;
  let rules: unknown[] = [];
  try {
    const v = JSON.parse(r.rules) as unknown;
    if (Array.isArray(v)) rules = v;
  } catch {
    /* an unreadable policy retains nothing and deletes nothing: no rules */
  }
  return { rules, schedule: r.schedule, updatedAt: Number(r.updated_at) };
}

export async function saveRetentionPolicy(db: DB, projectId: number, rules: unknown[], schedule: string | null, now: number): Promise<void> {
  const values = { rules: JSON.stringify(rules), schedule, updated_at: now };
  const res = await db.updateTable('retention_policies').set(values).where('project_id', '=', projectId).executeTakeFirst();
  if (Number(res.numUpdatedRows) > 0) return;
  try {
    await db.insertInto('retention_policies').values({ project_id: projectId, ...values }).execute();
  } catch {
    await db.updateTable('retention_policies').set(values).where('project_id', '=', projectId).execute();
  }
}

/** Every artifact of a project with its tags, times, size and the indexes (same repository) that list it. */
export async function retentionArtifacts(db: DB, projectId: number, projectName: string): Promise<RetentionArtifact[]> {
  const rows = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .select(['a.id', 'a.repository_id', 'r.name', 'a.digest', 'a.pushed_at', 'a.pulled_at', 'a.size'])
    .where('r.project_id', '=', projectId)
    .orderBy('a.id')
    .execute();
  if (!rows.length) return [];
  const tags = new Map<number, string[]>();
  const parents = new Map<string, string[]>();
  const repoIds = [...new Set(rows.map((r) => Number(r.repository_id)))];
  for (let i = 0; i < repoIds.length; i += 500) {
    const chunk = repoIds.slice(i, i + 500);
    for (const t of await db.selectFrom('tags').select(['artifact_id', 'name']).where('repository_id', 'in', chunk).orderBy('name').execute()) {
      tags.set(Number(t.artifact_id), [...(tags.get(Number(t.artifact_id)) ?? []), t.name]);
    }
    const links = await db
      .selectFrom('artifact_children as c')
      .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
      .select(['p.repository_id', 'p.digest as parent', 'c.child_digest'])
      .where('p.repository_id', 'in', chunk)
      .execute();
    for (const l of links) {
      const key = `${Number(l.repository_id)} ${l.child_digest}`;
      parents.set(key, [...(parents.get(key) ?? []), l.parent]);
    }
  }
  return rows.map((r) => ({
    id: Number(r.id),
    repository: r.name.slice(projectName.length + 1),
    digest: r.digest,
    tags: tags.get(Number(r.id)) ?? [],
    pushedAt: Number(r.pushed_at),
    pulledAt: r.pulled_at === null ? null : Number(r.pulled_at),
    size: Number(r.size),
    parents: parents.get(`${Number(r.repository_id)} ${r.digest}`) ?? [],
  }));
}
