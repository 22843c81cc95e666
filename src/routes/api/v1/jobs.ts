import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { notFound } from '../../../errors.js';
import type { Job } from '../../../jobs/runner.js';
import { cronProblem, nextRuns, type Schedule } from '../../../jobs/schedules.js';
import { JOB_STATES } from '../../../jobs/states.js';
import { SORTS } from '../../../paging.js';
import { iso, requireSystemAdmin, type Ctx } from '../../http.js';
import { z } from 'zod';
import { CONFIG_LIST_LIMIT, listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { op, route } from './operation.js';
import { idParam, intQuery, jobSchema, scheduleSchema } from './schemas.js';

const jobParams = z.object({ id: idParam.describe('job id') });

export const jobOps = {
  list: op({
    method: 'get',
    path: '/jobs',
    summary: 'List jobs, newest first (system admins; keyset cursors, no total)',
    tag: 'jobs',
    query: paginationQuerySchema.extend({
      type: z.string().max(64).optional().describe('a job type, e.g. SCAN_IMAGE'),
      status: z.enum(JOB_STATES, { error: 'status must be one of pending, scheduled, running, success, error, stopped' }).optional(),
    }),
    responses: { 200: { description: 'a page of jobs', schema: listEnvelopeSchema(jobSchema) } },
  }),
  get: op({ method: 'get', path: '/jobs/{id}', summary: 'Get a job', tag: 'jobs', params: jobParams, responses: { 200: { description: 'the job', schema: jobSchema } } }),
  log: op({
    method: 'get',
    path: '/jobs/{id}/log',
    summary: 'A job’s log (JSON, or text/plain with Accept: text/plain)',
    tag: 'jobs',
    params: jobParams,
    query: z.object({ after: intQuery('after', 0, Number.MAX_SAFE_INTEGER).optional().describe('only lines with a greater id') }),
    responses: {
      200: {
        description: 'up to 1000 lines',
        schema: z.object({
          items: z.array(z.object({ id: z.number().int(), time: z.iso.datetime({ offset: true }).nullable(), level: z.string(), attempt: z.number().int(), message: z.string() })),
        }),
        types: { 'text/plain': z.string() },
      },
    },
  }),
  stop: op({
    method: 'post',
    path: '/jobs/{id}/stop',
    summary: 'Stop a job (200 when stopped, 202 while it stops)',
    tag: 'jobs',
    params: jobParams,
    responses: { 200: { description: 'stopped', schema: jobSchema }, 202: { description: 'stopping', schema: jobSchema } },
  }),
};

export const scheduleOps = {
  list: op({
    method: 'get',
    path: '/schedules',
    summary: 'List schedules with their next runs, by name (keyset cursors)',
    tag: 'jobs',
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of schedules', schema: listEnvelopeSchema(scheduleSchema) } },
  }),
  update: op({
    method: 'put',
    path: '/schedules/{name}',
    summary: 'Change a schedule’s cron expression or disable it',
    tag: 'jobs',
    params: z.object({ name: z.string().min(1) }),
    body: z
      .object({
        cron: z
          .string()
          .optional()
          .superRefine((v, ctx) => {
            const problem = v === undefined ? null : cronProblem(v);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .describe('a cron expression: 5 fields, or 6 with seconds; UTC'),
        enabled: z.boolean({ error: 'enabled must be true or false' }).optional(),
      })
      .strict(),
    responses: { 200: { description: 'the schedule', schema: scheduleSchema } },
  }),
};

/** A queued job's answer: 202 with the job and its `Location` (scan, scan-all, GC, reconcile). */
export async function acceptedJob(c: Ctx, id: number): Promise<Response> {
  return c.json(jobJson((await c.var.services.jobs.get(id))!), 202, { Location: `/api/v1/jobs/${id}` });
}

export const jobJson = (j: Job): z.output<typeof jobSchema> => ({
  id: j.id,
  type: j.type,
  status: j.status,
  progress: j.progress,
  progress_text: j.progressText,
  attempt: j.attempt,
  max_attempts: j.maxAttempts,
  priority: j.priority,
  payload: j.payload,
  result: j.result,
  error: j.error,
  created_at: iso(j.createdAt),
  updated_at: iso(j.updatedAt),
  run_at: iso(j.runAt),
  started_at: iso(j.startedAt),
  finished_at: iso(j.finishedAt),
});

export const scheduleJson = (s: Schedule): z.output<typeof scheduleSchema> => ({
  name: s.name,
  cron: s.cron,
  enabled: s.enabled,
  job_type: s.jobType,
  // The last fire that enqueued a job (not the catch-up watermark, which edits move too).
  last_fire_at: iso(s.lastRun?.at ?? null),
  last_job_id: s.lastRun?.jobId ?? null,
  next_runs: s.enabled ? nextRuns(s.cron, 3).map((d) => d.toISOString()) : [],
  updated_at: iso(s.updatedAt),
});

const JOBS_REFUSAL = 'only system admins see jobs and schedules';

/** The job center over REST: list (keyset on id, newest first), detail, log, stop. */
export function jobRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', async (c, next) => {
    requireSystemAdmin(c, JOBS_REFUSAL);
    await next();
  });

  route(r, '/jobs', jobOps.list, async (c, v) => {
    const { type, status } = v.query();
    const list = listId('jobs', type, status);
    const q = listQuery(c, list, SORTS.newestFirst, { countTotal: false });
    const page = await c.var.services.jobs.listPage({ type, status, page: q.req });
    return listResponse(c, list, q, page, jobJson);
  });

  route(r, '/jobs', jobOps.get, async (c, v) => {
    const job = await c.var.services.jobs.get(v.params().id);
    if (!job) throw notFound('job not found');
    return c.json(jobJson(job));
  });

  route(r, '/jobs', jobOps.log, async (c, v) => {
    const { id } = v.params();
    if (!(await c.var.services.jobs.get(id))) throw notFound('job not found');
    const after = v.query().after ?? 0;
    const lines = await c.var.services.jobs.logLines(id, after, 1000);
    if ((c.req.header('accept') ?? '').includes('text/plain')) {
      return c.text(lines.map((l) => `${new Date(l.at).toISOString()} [${l.level}] (attempt ${l.attempt}) ${l.message}`).join('\n') + (lines.length ? '\n' : ''));
    }
    return c.json({ items: lines.map((l) => ({ id: l.id, time: iso(l.at), level: l.level, attempt: l.attempt, message: l.message })) });
  });

  route(r, '/jobs', jobOps.stop, async (c, v) => {
    const { id } = v.params();
    const status = await c.var.services.jobs.requestStop(id);
    if (status === null) throw notFound('job not found');
    await c.var.services.audit.record(c.var.actor, 'stop', 'job', String(id), { status });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), status === 'stopped' ? 200 : 202);
  });

  return r;
}

/** Schedules: list, and change the cron expression or disable one. */
export function scheduleRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', async (c, next) => {
    requireSystemAdmin(c, JOBS_REFUSAL);
    await next();
  });
  route(r, '/schedules', scheduleOps.list, async (c) => {
    const list = listId('schedules');
    const q = listQuery(c, list, SORTS.schedules, { defaultLimit: CONFIG_LIST_LIMIT });
    return listResponse(c, list, q, await c.var.services.scheduler.page(q.req), scheduleJson);
  });
  route(r, '/schedules', scheduleOps.update, async (c, v) => {
    const { name } = v.params();
    const b = await v.body();
    const s = await c.var.services.scheduler.update(name, { cron: b.cron, enabled: b.enabled });
    if (!s) throw notFound(`schedule "${name.slice(0, 64)}" not found`);
    await c.var.services.audit.record(c.var.actor, 'update', 'schedule', name, { cron: s.cron, enabled: s.enabled });
    return c.json(scheduleJson(s));
  });
  return r;
}
