import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import type { Job } from '../../../jobs/runner.js';
import { nextRuns } from '../../../jobs/schedules.js';
import { SORTS } from '../../../paging.js';
import { RETENTION_OUTCOMES, retentionPolicySchema, type RetentionPolicy, type RetentionRunItem } from '../../../services/retention-service.js';
import { iso } from '../../http.js';
import { listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { jobJson } from './jobs.js';
import { op, route } from './operation.js';
import { jobSchema, projectParams, retentionPolicyViewSchema, retentionRunItemSchema, retentionRunSchema } from './schemas.js';

const policy = { 200: { description: 'the policy', schema: retentionPolicyViewSchema } };
const runParams = projectParams.extend({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('the run’s job id') });
/** A run's items page by 50 unless asked otherwise. */
const RUN_ITEMS_LIMIT = 50;

export const retentionOps = {
  get: op({
    method: 'get',
    path: '/projects/{project}/retention',
    summary: 'The project’s tag retention policy (rules, schedule, next runs)',
    tag: 'retention',
    params: projectParams,
    responses: policy,
  }),
  put: op({
    method: 'put',
    path: '/projects/{project}/retention',
    summary: 'Set the tag retention policy',
    tag: 'retention',
    params: projectParams,
    body: retentionPolicySchema,
    responses: policy,
  }),
  run: op({
    method: 'post',
    path: '/projects/{project}/retention/run',
    summary: 'Run tag retention (202 and the job; its result previews what was or would be deleted, `…/runs/{id}/items` lists all)',
    tag: 'retention',
    params: projectParams,
    body: z.object({ dry_run: z.boolean({ error: 'dry_run must be true or false' }).optional() }),
    bodyRequired: false,
    // 412: no retention rules are saved for the project (a run needs a saved policy, as in Harbor).
    errors: [412],
    responses: { 202: { description: 'queued: the job', schema: jobSchema } },
  }),
  runs: op({
    method: 'get',
    path: '/projects/{project}/retention/runs',
    summary: 'The project’s retention runs, newest first (manual and scheduled, dry and real)',
    tag: 'retention',
    params: projectParams,
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of runs', schema: listEnvelopeSchema(retentionRunSchema) } },
  }),
  getRun: op({
    method: 'get',
    path: '/projects/{project}/retention/runs/{id}',
    summary: 'One retention run: its state and counts',
    tag: 'retention',
    params: runParams,
    responses: { 200: { description: 'the run', schema: retentionRunSchema } },
  }),
  runItems: op({
    method: 'get',
    path: '/projects/{project}/retention/runs/{id}/items',
    summary: `What a run deleted, would delete (dry run) or failed to delete, in the order it decided (default ${RUN_ITEMS_LIMIT} a page)`,
    tag: 'retention',
    params: runParams,
    query: paginationQuerySchema.extend({ outcome: z.enum(RETENTION_OUTCOMES).optional().describe('only this outcome') }),
    responses: { 200: { description: 'a page of decisions', schema: listEnvelopeSchema(retentionRunItemSchema) } },
  }),
};

const policyJson = (p: RetentionPolicy): z.output<typeof retentionPolicyViewSchema> => ({
  rules: p.rules,
  schedule: p.schedule,
  next_runs: p.schedule ? nextRuns(p.schedule, 3).map((d) => d.toISOString()) : [],
  updated_at: iso(p.updatedAt),
});

const num = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);

/** A run as the API shows it: the job's state and the result's counts (never its listed artifacts). */
export const retentionRunJson = (j: Job): z.output<typeof retentionRunSchema> => {
  const payload = (j.payload ?? {}) as { dryRun?: unknown; trigger?: unknown };
  const res = (j.result && typeof j.result === 'object' ? j.result : {}) as Record<string, unknown>;
  return {
    id: j.id,
    status: j.status,
    dry_run: payload.dryRun === true,
    trigger: payload.trigger === 'schedule' ? 'schedule' : 'manual',
    progress: j.progress,
    error: j.error,
    created_at: iso(j.createdAt),
    started_at: iso(j.startedAt),
    finished_at: iso(j.finishedAt),
    total: num(res.total),
    retained: num(res.retained),
    deleted_count: num(res.deleted_count),
    failed_count: num(res.failed_count),
    bytes: num(res.bytes),
  };
};

export const retentionRunItemJson = (x: RetentionRunItem): z.output<typeof retentionRunItemSchema> => ({
  outcome: x.outcome,
  repository: x.repository,
  digest: x.digest,
  tags: x.tags,
  tag_count: x.tagCount,
  size: x.size,
  reason: x.reason,
  error: x.error,
});

/** Tag retention per project (project admins). */
export function retentionRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  route(r, '/projects', retentionOps.get, async (c, v) => c.json(policyJson(await c.var.services.retention.get(c.var.principal, v.params().project))));

  route(r, '/projects', retentionOps.put, async (c, v) => {
    const p = await c.var.services.retention.put(c.var.principal, c.var.actor, v.params().project, await v.body());
    return c.json(policyJson(p));
  });

  route(r, '/projects', retentionOps.run, async (c, v) => {
    const raw = c.req.header('content-type') ? await v.body() : {};
    const id = await c.var.services.retention.run(c.var.principal, c.var.actor, v.params().project, { dryRun: raw.dry_run === true });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202);
  });

  route(r, '/projects', retentionOps.runs, async (c, v) => {
    const { project } = v.params();
    const list = listId('retention-runs', project);
    const q = listQuery(c, list, SORTS.retentionRuns);
    const { page } = await c.var.services.retention.runs(c.var.principal, project, q.req);
    return listResponse(c, list, q, page, retentionRunJson);
  });

  route(r, '/projects', retentionOps.getRun, async (c, v) => {
    const { project, id } = v.params();
    const { job } = await c.var.services.retention.getRun(c.var.principal, project, id);
    return c.json(retentionRunJson(job));
  });

  route(r, '/projects', retentionOps.runItems, async (c, v) => {
    const { project, id } = v.params();
    const { outcome } = v.query();
    const list = listId('retention-items', project, id, outcome);
    const q = listQuery(c, list, SORTS.retentionItems, { defaultLimit: RUN_ITEMS_LIMIT });
    const page = await c.var.services.retention.runItems(c.var.principal, project, id, { outcome, page: q.req });
    return listResponse(c, list, q, page, retentionRunItemJson);
  });

  return r;
}
