import type { DB } from '../connect.js';
import { isUniqueViolation } from '../../errors.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import { toJob, type Job } from './jobs.js';
import { keysetPage } from './keyset.js';
import { updateOrInsert } from './sql.js';

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
  await updateOrInsert(
    () => db.updateTable('retention_policies').set(values).where('project_id', '=', projectId).executeTakeFirst(),
    () =>
      db
        .insertInto('retention_policies')
        .values({ project_id: projectId, ...values })
        .execute(),
  );
}

/** One page of a project's repositories by id after `afterId` (a retention run goes through them this way). */
export async function projectRepositoriesAfter(db: DB, projectId: number, afterId: number, limit: number): Promise<{ id: number; name: string }[]> {
  const rows = await db.selectFrom('repositories').select(['id', 'name']).where('project_id', '=', projectId).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: Number(r.id), name: r.name }));
}

/**
 * Every artifact of one repository with its tags and the indexes of the repository that list it, for a retention
 * decision (rules decide per repository: one repository is in memory at a time).
 */
export async function retentionArtifacts(db: DB, repository: { id: number; name: string }, projectName: string): Promise<RetentionArtifact[]> {
  const rows = await db.selectFrom('artifacts').select(['id', 'digest', 'pushed_at', 'pulled_at', 'size']).where('repository_id', '=', repository.id).orderBy('id').execute();
  if (!rows.length) return [];
  const tags = new Map<number, string[]>();
  for (const t of await db.selectFrom('tags').select(['artifact_id', 'name']).where('repository_id', '=', repository.id).orderBy('name').execute()) {
    tags.set(Number(t.artifact_id), [...(tags.get(Number(t.artifact_id)) ?? []), t.name]);
  }
  const parents = new Map<string, string[]>();
  const links = await db
    .selectFrom('artifact_children as c')
    .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
    .select(['p.digest as parent', 'c.child_digest'])
    .where('p.repository_id', '=', repository.id)
    .execute();
  for (const l of links) parents.set(l.child_digest, [...(parents.get(l.child_digest) ?? []), l.parent]);
  return rows.map((r) => ({
    id: Number(r.id),
    repository: repository.name.slice(projectName.length + 1),
    digest: r.digest,
    tags: tags.get(Number(r.id)) ?? [],
    pushedAt: Number(r.pushed_at),
    pulledAt: r.pulled_at === null ? null : Number(r.pulled_at),
    size: Number(r.size),
    parents: parents.get(r.digest) ?? [],
  }));
}

/** Tag names a run's item keeps (the artifact's tag count is kept beside them). */
export const RUN_ITEM_TAGS = 10;

/** What a run may decide about one artifact (a dry run only `would_delete`). */
export const RETENTION_OUTCOMES = ['deleted', 'would_delete', 'failed'] as const;

/** What a run decided about one artifact. */
export interface RetentionRunItem {
  id: number;
  outcome: (typeof RETENTION_OUTCOMES)[number];
  /** `project/repo` */
  repository: string;
  digest: string;
  /** the first {@link RUN_ITEM_TAGS} tag names */
  tags: string[];
  tagCount: number;
  /** bytes */
  size: number;
  reason: string;
  error: string | null;
}

/** Records that job `jobId` is a retention run of `projectId` (again: nothing happens). */
export async function insertRetentionRun(db: DB, run: { jobId: number; projectId: number; dryRun: boolean; trigger: string; createdAt: number }): Promise<void> {
  const exists = await db.selectFrom('retention_runs').select('job_id').where('job_id', '=', run.jobId).executeTakeFirst();
  if (exists) return;
  try {
    await db
      .insertInto('retention_runs')
      .values({ job_id: run.jobId, project_id: run.projectId, dry_run: run.dryRun ? 1 : 0, trigger_kind: run.trigger.slice(0, 16), created_at: run.createdAt })
      .execute();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
}

/** A project's retention runs, newest first (keyset on the job id), as their jobs. */
export async function listRetentionRuns(db: DB, projectId: number, page: PageRequest): Promise<KeysetPage<Job>> {
  const base = db.selectFrom('retention_runs as rr').innerJoin('jobs', 'jobs.id', 'rr.job_id').where('rr.project_id', '=', projectId);
  const res = await keysetPage(
    db,
    base,
    SORTS.retentionRuns,
    page,
    (qb) => qb.selectAll('jobs'),
    (r) => [Number(r.id)],
  );
  return { ...res, items: res.items.map(toJob) };
}

/** Forgets a run's items (a new attempt decides again). */
export async function clearRetentionRunItems(db: DB, jobId: number): Promise<void> {
  await db.deleteFrom('retention_run_items').where('job_id', '=', jobId).execute();
}

/** Appends a run's decisions (callers batch them; texts are cut to their columns). */
export async function insertRetentionRunItems(db: DB, jobId: number, items: Omit<RetentionRunItem, 'id'>[]): Promise<void> {
  for (let i = 0; i < items.length; i += 200) {
    await db
      .insertInto('retention_run_items')
      .values(
        items.slice(i, i + 200).map((x) => ({
          job_id: jobId,
          outcome: x.outcome,
          repository: x.repository.slice(0, 255),
          digest: x.digest.slice(0, 100),
          tags: JSON.stringify(x.tags.slice(0, RUN_ITEM_TAGS).map((t) => t.slice(0, 128))),
          tag_count: x.tagCount,
          size: x.size,
          reason: x.reason.slice(0, 512),
          error: x.error?.slice(0, 512) ?? null,
        })),
      )
      .execute();
  }
}

/** One page of a run's items in the order they were decided; `outcome` narrows to one kind. */
export async function listRetentionRunItems(db: DB, jobId: number, f: { outcome?: RetentionRunItem['outcome']; page: PageRequest }): Promise<KeysetPage<RetentionRunItem>> {
  let base = db.selectFrom('retention_run_items as i').where('i.job_id', '=', jobId);
  if (f.outcome) base = base.where('i.outcome', '=', f.outcome);
  const res = await keysetPage(
    db,
    base,
    SORTS.retentionItems,
    f.page,
    (qb) => qb.selectAll('i'),
    (r) => [Number(r.id)],
  );
  return {
    ...res,
    items: res.items.map((r) => {
      let tags: string[] = [];
      try {
        const v = JSON.parse(r.tags) as unknown;
        if (Array.isArray(v)) tags = v.filter((t): t is string => typeof t === 'string');
      } catch {
        /* unreadable: no tags */
      }
      return {
        id: Number(r.id),
        outcome: r.outcome as RetentionRunItem['outcome'],
        repository: r.repository,
        digest: r.digest,
        tags,
        tagCount: Number(r.tag_count),
        size: Number(r.size),
        reason: r.reason,
        error: r.error,
      };
    }),
  };
}
