import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { badRequest } from '../../../errors.js';
import { nextRuns } from '../../../jobs/schedules.js';
import type { RetentionPolicy } from '../../../services/retention-service.js';
import { iso, jsonBody } from '../../http.js';
import { jobJson } from './jobs.js';

const policyJson = (p: RetentionPolicy) => ({
  rules: p.rules,
  schedule: p.schedule,
  next_runs: p.schedule ? nextRuns(p.schedule, 3).map((d) => d.toISOString()) : [],
  updated_at: iso(p.updatedAt),
});

/** Tag retention per project (project admins). */
export function retentionRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/:project/retention', async (c) => c.json(policyJson(await c.var.services.retention.get(c.var.principal, c.req.param('project')))));

  r.put('/:project/retention', async (c) => {
    const p = await c.var.services.retention.put(c.var.principal, c.var.actor, c.req.param('project'), await jsonBody(c));
    return c.json(policyJson(p));
  });

  r.post('/:project/retention/run', async (c) => {
    const raw = c.req.header('content-type') ? await jsonBody(c) : {};
    if (raw.dry_run !== undefined && typeof raw.dry_run !== 'boolean') throw badRequest('dry_run must be true or false');
    const id = await c.var.services.retention.run(c.var.principal, c.var.actor, c.req.param('project'), { dryRun: raw.dry_run === true });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202);
  });

  return r;
}
