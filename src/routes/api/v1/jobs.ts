import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, badRequest, denied, notFound } from '../../../errors.js';
import type { Job } from '../../../jobs/runner.js';
import { cronProblem, nextRuns, type Schedule } from '../../../jobs/schedules.js';
import { isJobStatus } from '../../../jobs/states.js';
import { SORTS } from '../../../paging.js';
import { intParam, iso, jsonBody, pathId, type Ctx } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

export const jobJson = (j: Job) => ({
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

export const scheduleJson = (s: Schedule) => ({
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

export function requireSystemAdmin(c: Ctx): void {
  const p = c.var.principal;
  if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
  if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins see jobs and schedules');
}

/** The job center over REST: list (keyset on id, newest first), detail, log, stop. */
export function jobRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', async (c, next) => {
    requireSystemAdmin(c);
    await next();
  });

  r.get('/', async (c) => {
    const type = c.req.query('type')?.slice(0, 64);
    const status = c.req.query('status');
    if (status !== undefined && status !== '' && !isJobStatus(status)) throw badRequest('status must be one of pending, scheduled, running, success, error, stopped');
    const list = listId('jobs', type, status);
    const q = listQuery(c, list, SORTS.newestFirst, { countTotal: false });
    const page = await c.var.services.jobs.listPage({ type: type || undefined, status: status || undefined, page: q.req });
    return listResponse(c, list, q, page, jobJson);
  });

  r.get('/:id', async (c) => {
    const job = await c.var.services.jobs.get(pathId(c, 'id'));
    if (!job) throw notFound('job not found');
    return c.json(jobJson(job));
  });

  r.get('/:id/log', async (c) => {
    const id = pathId(c, 'id');
    if (!(await c.var.services.jobs.get(id))) throw notFound('job not found');
    const after = intParam(c.req.query('after'), 'after', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const lines = await c.var.services.jobs.logLines(id, after, 1000);
    if ((c.req.header('accept') ?? '').includes('text/plain')) {
      return c.text(lines.map((l) => `${new Date(l.at).toISOString()} [${l.level}] (attempt ${l.attempt}) ${l.message}`).join('\n') + (lines.length ? '\n' : ''));
    }
    return c.json({ items: lines.map((l) => ({ id: l.id, time: iso(l.at), level: l.level, attempt: l.attempt, message: l.message })) });
  });

  r.post('/:id/stop', async (c) => {
    const id = pathId(c, 'id');
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
    requireSystemAdmin(c);
    await next();
  });
  r.get('/', async (c) => c.json({ items: (await c.var.services.scheduler.list()).map(scheduleJson) }));
  r.put('/:name', async (c) => {
    const name = c.req.param('name');
    const b = await jsonBody(c);
    const unknown = Object.keys(b).filter((k) => k !== 'cron' && k !== 'enabled');
    if (unknown.length) throw badRequest(`unknown fields: ${unknown.join(', ').slice(0, 200)}`);
    if (b.cron !== undefined) {
      const problem = cronProblem(b.cron);
      if (problem) throw badRequest(problem);
    }
    if (b.enabled !== undefined && typeof b.enabled !== 'boolean') throw badRequest('enabled must be true or false');
    const s = await c.var.services.scheduler.update(name, { cron: b.cron as string | undefined, enabled: b.enabled as boolean | undefined });
    if (!s) throw notFound(`schedule "${name.slice(0, 64)}" not found`);
    await c.var.services.audit.record(c.var.actor, 'update', 'schedule', name, { cron: s.cron, enabled: s.enabled });
    return c.json(scheduleJson(s));
  });
  return r;
}
