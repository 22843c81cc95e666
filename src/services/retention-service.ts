import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import { findProjectById } from '../db/repos/projects.js';
import {
  clearRetentionRunItems,
  findRetentionPolicy,
  insertRetentionRun,
  insertRetentionRunItems,
  listRetentionRunItems,
  listRetentionRuns,
  RUN_ITEM_TAGS,
  projectRepositoriesAfter,
  retentionArtifacts,
  saveRetentionPolicy,
  type RetentionRunItem,
} from '../db/repos/retention.js';

export { RETENTION_OUTCOMES, type RetentionRunItem } from '../db/repos/retention.js';
import { findJob, type Job } from '../db/repos/jobs.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import { AppError, badRequest } from '../errors.js';
import type { JobLogKey, JobLogParams, JobProgressKey } from '../i18n/job-log.js';
import type { JobQueue } from '../jobs/queue.js';
import type { retentionPayload } from '../jobs/payloads.js';
import { cronProblem, type Scheduler } from '../jobs/schedules.js';
import type { Logger } from '../log.js';
import type { Actor, AuditService } from './audit-service.js';
import type { Authorizer } from './authorizer.js';
import type { Project, ProjectService } from './project-service.js';
import { DELETE_REASONS, decideRetention, retentionRuleSchema, toRule, type RetentionRuleInput, type RetentionVerdict } from './retention-rules.js';
import type { WebhookService } from './webhook-service.js';

/** The job type of a retention run. */
export const TAG_RETENTION = 'retention';

/**
 * Listed artifacts in a run's job result, a preview kept for clients of the job API (the counts and bytes cover all of
 * them); every decision pages from the run's items (`runItems`).
 */
const LISTED = 200;
/** Repositories a retention run reads per query (each is decided with its own artifacts only). */
const RETENTION_BATCH = 100;
/** Decisions written to the run's items per insert while a run goes on. */
const ITEM_BATCH = 200;
/** Tag names of one artifact in a job log line, a result's preview or a webhook payload (an artifact may have thousands). */
const tagPreview = (tags: string[]) => tags.slice(0, RUN_ITEM_TAGS);

export const retentionPolicySchema = z
  .object({
    rules: z.array(retentionRuleSchema).max(15),
    schedule: z.string().max(128).nullable().default(null),
  })
  .strict();
/** A policy as `retentionPolicySchema` parses it (at the route); the schedule's cron grammar is checked by `put`. */
export type RetentionPolicyInput = z.output<typeof retentionPolicySchema>;

export interface RetentionPolicy {
  rules: RetentionRuleInput[];
  schedule: string | null;
  updatedAt: number | null;
}

/**
 * How retention deletes: the one deletion service's `deleteArtifacts` (immutability and index integrity on every
 * path), so retention never has a deletion rule of its own. It may refuse a batch; retention logs that and goes on.
 */
export interface RetentionDeleter {
  deleteArtifacts(actor: Actor, repository: string, digests: string[], opts: { reason: string }): Promise<{ deleted: { digest: string }[] }>;
}

export type RetentionRunPayload = z.infer<typeof retentionPayload>;

/** The job log key of a deletion's reason (one of `DELETE_REASONS`; any other reason is logged with its text). */
function deleteLogKey(reason: string): JobLogKey {
  return Object.values(DELETE_REASONS).find((r) => r.text === reason)?.logKey ?? 'retention_deleted';
}

export interface RetentionRunContext {
  id: number;
  signal: AbortSignal;
  log(key: JobLogKey, params?: JobLogParams, level?: 'info' | 'warn' | 'error'): Promise<void>;
  progress(percent: number, key?: JobProgressKey, params?: JobLogParams): Promise<void>;
}

export const retentionScheduleName = (projectId: number) => `retention:${projectId}`;

/** Tag retention per project: the policy (rules and a cron schedule), runs as jobs, dry runs that list what would go. */
export class RetentionService {
  /** Repositories a run reads per query. */
  batchSize = RETENTION_BATCH;

  constructor(
    private readonly db: DB,
    private readonly projects: ProjectService,
    private readonly authz: Authorizer,
    private readonly audit: AuditService,
    private readonly queue: JobQueue,
    private readonly scheduler: Scheduler,
    private readonly deleter: RetentionDeleter,
    private readonly webhooks: WebhookService,
    private readonly log: Logger,
  ) {}

  private async manageable(p: Principal, name: string): Promise<Project> {
    const project = await this.projects.get(p, name);
    await this.authz.require(p, 'project:update', project);
    return project;
  }

  async get(p: Principal, name: string): Promise<RetentionPolicy> {
    const project = await this.manageable(p, name);
    return this.policyOf(project.id);
  }

  private async policyOf(projectId: number): Promise<RetentionPolicy> {
    const stored = await findRetentionPolicy(this.db, projectId);
    if (!stored) return { rules: [], schedule: null, updatedAt: null };
    const rules = stored.rules.map((r) => retentionRuleSchema.safeParse(r)).flatMap((r) => (r.success ? [r.data] : []));
    return { rules, schedule: stored.schedule, updatedAt: stored.updatedAt };
  }

  /** Replaces the policy `{rules, schedule}`; the schedule (cron, UTC) runs real (not dry) retention. */
  async put(p: Principal, actor: Actor, name: string, policy: RetentionPolicyInput): Promise<RetentionPolicy> {
    const project = await this.manageable(p, name);
    const schedule = policy.schedule?.trim() || null;
    if (schedule) {
      const problem = cronProblem(schedule);
      if (problem) throw badRequest(`schedule: ${problem}`);
    }
    await saveRetentionPolicy(this.db, project.id, policy.rules, schedule, Date.now());
    const sched = retentionScheduleName(project.id);
    if (schedule) await this.scheduler.put(sched, schedule, TAG_RETENTION, { projectId: project.id, dryRun: false, trigger: 'schedule' } satisfies RetentionRunPayload);
    else await this.scheduler.remove(sched);
    await this.audit.record(actor, 'update', 'retention', project.name, { rules: policy.rules.length, schedule });
    return this.policyOf(project.id);
  }

  /**
   * Queues a run (one real and one dry run per project at a time: asking again returns the queued one). A run needs a
   * saved policy with rules, as in Harbor: a dry run of nothing saved would report "nothing to delete" for a draft
   * nobody saved, which reads as a verdict on rules that do not exist.
   */
  async run(p: Principal, actor: Actor, name: string, opts: { dryRun: boolean }): Promise<number> {
    const project = await this.manageable(p, name);
    const saved = await this.policyOf(project.id);
    if (saved.updatedAt === null || saved.rules.length === 0)
      throw new AppError('PRECONDITION', `project ${project.name} has no saved retention rules: save a policy first (PUT …/retention), then run it`, undefined, {
        key: 'retention_no_policy',
        params: { project: project.name },
      });
    const payload: RetentionRunPayload = { projectId: project.id, dryRun: opts.dryRun, trigger: 'manual', operator: actor.name };
    const { id } = await this.queue.enqueue(TAG_RETENTION, payload, { uniqueKey: `retention:${project.id}:${opts.dryRun ? 'dry' : 'run'}`, releaseKeyOnFinish: true });
    await insertRetentionRun(this.db, { jobId: id, projectId: project.id, dryRun: opts.dryRun, trigger: payload.trigger, createdAt: Date.now() });
    await this.audit.record(actor, opts.dryRun ? 'retention_dry_run' : 'retention_run', 'project', project.name, { job: id });
    return id;
  }

  /** A project's runs, newest first, one keyset page (project admins). */
  async runs(p: Principal, name: string, page: PageRequest): Promise<{ project: Project; page: KeysetPage<Job> }> {
    const project = await this.manageable(p, name);
    return { project, page: await listRetentionRuns(this.db, project.id, page) };
  }

  /**
   * One run of the project; NOT_FOUND for any other job. Judged by the job's payload, so a scheduled run that cron
   * enqueued is found before it starts (it joins the project's list of runs when it starts).
   */
  async getRun(p: Principal, name: string, jobId: number): Promise<{ project: Project; job: Job }> {
    const project = await this.manageable(p, name);
    const job = await findJob(this.db, jobId);
    if (!job || job.type !== TAG_RETENTION || (job.payload as { projectId?: unknown } | null)?.projectId !== project.id) throw new AppError('NOT_FOUND', 'retention run not found');
    return { project, job };
  }

  /** One page of what a run deleted, would delete or failed to delete, in the order it decided. */
  async runItems(p: Principal, name: string, jobId: number, f: { outcome?: RetentionRunItem['outcome']; page: PageRequest }): Promise<KeysetPage<RetentionRunItem>> {
    await this.getRun(p, name, jobId);
    return listRetentionRunItems(this.db, jobId, f);
  }

  /**
   * A run (the job's work): decides with {@link decideRetention} and, unless dry, deletes through the deletion service,
   * repository by repository. The result lists what was (or would be) deleted, with bytes (the artifacts' sizes; blobs
   * are freed by the next garbage collection). Announces TAG_RETENTION to the project's webhooks.
   */
  async execute(payload: RetentionRunPayload, ctx: RetentionRunContext) {
    const project = await findProjectById(this.db, payload.projectId);
    if (!project) {
      await this.scheduler.remove(retentionScheduleName(payload.projectId)).catch(() => undefined);
      return { skipped: 'the project no longer exists' };
    }
    // A scheduled run is enqueued by cron, not by `run`: it joins its project's runs here. A new attempt decides again.
    await insertRetentionRun(this.db, { jobId: ctx.id, projectId: project.id, dryRun: payload.dryRun, trigger: payload.trigger, createdAt: Date.now() });
    await clearRetentionRunItems(this.db, ctx.id);
    const policy = await this.policyOf(project.id);
    const rules = policy.rules.map(toRule);
    // Rules decide per repository: the run reads the project's repositories a page at a time ({@link batchSize}) and
    // holds one repository's artifacts at a time. A first pass counts (the plan line, the progress); the second
    // decides again and acts on what it decides.
    const eachRepository = async (fn: (repository: string, artifacts: number, doomed: RetentionVerdict[]) => Promise<void>) => {
      for (let after = 0; ; ) {
        const repos = await projectRepositoriesAfter(this.db, project.id, after, this.batchSize);
        for (const r of repos) {
          ctx.signal.throwIfAborted();
          const artifacts = await retentionArtifacts(this.db, r, project.name);
          const verdicts = decideRetention(rules, artifacts, { now: Date.now(), immutableTags: project.immutableTags });
          // Indexes before the platform images they list: no moment leaves a kept index pointing at a missing manifest.
          const doomed = verdicts.filter((v) => !v.keep).sort((x, y) => x.artifact.parents.length - y.artifact.parents.length);
          await fn(r.name, artifacts.length, doomed);
        }
        if (repos.length < this.batchSize) return;
        after = repos[repos.length - 1]!.id;
      }
    };
    let planned = 0;
    let plannedArtifacts = 0;
    let bytes = 0;
    await eachRepository(async (_, artifacts, doomed) => {
      plannedArtifacts += artifacts;
      planned += doomed.length;
      for (const v of doomed) bytes += v.artifact.size;
    });
    await ctx.log(payload.dryRun ? 'retention_plan_dry' : 'retention_plan', { rules: policy.rules.length, artifacts: plannedArtifacts, doomed: planned, bytes });
    // Counts and bytes cover every decision; the result keeps the first LISTED of each kind, the run's items keep all.
    const deleted: { repository: string; digest: string; tags: string[]; tag_count: number; size: number; reason: string }[] = [];
    const failed: { repository: string; digest: string; error: string }[] = [];
    let deletedCount = 0;
    let failedCount = 0;
    let deletedBytes = 0;
    let pending: Omit<RetentionRunItem, 'id'>[] = [];
    const flush = async () => {
      if (pending.length) await insertRetentionRunItems(this.db, ctx.id, pending);
      pending = [];
    };
    const record = async (item: Omit<RetentionRunItem, 'id'>) => {
      if (item.outcome === 'failed') {
        failedCount++;
        if (failed.length < LISTED) failed.push({ repository: item.repository, digest: item.digest, error: item.error ?? '' });
      } else {
        deletedCount++;
        deletedBytes += item.size;
        if (deleted.length < LISTED) deleted.push({ repository: item.repository, digest: item.digest, tags: item.tags, tag_count: item.tagCount, size: item.size, reason: item.reason });
      }
      pending.push(item);
      if (pending.length >= ITEM_BATCH) await flush();
    };
    const itemOf = (repository: string, v: RetentionVerdict, outcome: RetentionRunItem['outcome'], error: string | null = null) => ({
      outcome,
      repository,
      digest: v.artifact.digest,
      tags: tagPreview(v.artifact.tags),
      tagCount: v.artifact.tags.length,
      size: outcome === 'failed' ? 0 : v.artifact.size,
      reason: v.reason,
      error,
    });
    const actor: Actor = { name: payload.operator ? `retention (${payload.operator})` : 'retention', ip: 'berth' };
    let total = 0;
    let doomedCount = 0;
    let done = 0;
    await eachRepository(async (repository, artifacts, list) => {
      total += artifacts;
      doomedCount += list.length;
      if (!list.length) return;
      if (payload.dryRun) {
        for (const v of list) await record(itemOf(repository, v, 'would_delete'));
        return;
      }
      try {
        const res = await this.deleter.deleteArtifacts(
          actor,
          repository,
          list.map((v) => v.artifact.digest),
          { reason: 'retention' },
        );
        const gone = new Set(res.deleted.map((d) => d.digest));
        for (const v of list) {
          if (!gone.has(v.artifact.digest)) continue;
          await record(itemOf(repository, v, 'deleted'));
          const more = v.artifact.tags.length > RUN_ITEM_TAGS ? ` (+${v.artifact.tags.length - RUN_ITEM_TAGS})` : '';
          await ctx.log(deleteLogKey(v.reason), { artifact: `${repository}@${v.artifact.digest}`, tags: tagPreview(v.artifact.tags).join(', ') + more || '—', reason: v.reason });
        }
      } catch (err) {
        const message = (err as Error).message.slice(0, 500);
        for (const v of list) await record(itemOf(repository, v, 'failed', message));
        await ctx.log('retention_delete_failed', { repository, error: message }, 'warn');
      }
      done += list.length;
      const of = Math.max(planned, done);
      await ctx.progress((done / of) * 100, 'retention_deleting', { done, total: of });
    });
    const result = {
      dry_run: payload.dryRun,
      trigger: payload.trigger,
      project: project.name,
      total,
      retained: total - doomedCount,
      deleted_count: deletedCount,
      failed_count: failedCount,
      bytes: deletedBytes,
      deleted,
      failed,
    };
    await flush();
    await this.webhooks.emit({
      id: `retention:${ctx.id}`,
      type: 'TAG_RETENTION',
      occurAt: Date.now(),
      operator: payload.operator ?? 'berth',
      project,
      repository: null,
      resources: [],
      details: {
        job_id: ctx.id,
        dry_run: result.dry_run,
        total: result.total,
        retained: result.retained,
        deleted: result.deleted_count,
        failed: result.failed_count,
        bytes: result.bytes,
        deleted_artifacts: deleted.slice(0, 50).map((d) => ({ repo_name: d.repository, digest: d.digest, tags: d.tags })),
      },
    });
    this.log.info({ project: project.name, dryRun: payload.dryRun, deleted: deletedCount, failed: failedCount }, 'retention run done');
    return result;
  }
}
