import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { nextRuns } from '../../../jobs/schedules.js';
import { retentionPolicySchema, type RetentionPolicy } from '../../../services/retention-service.js';
import { iso } from '../../http.js';
import { jobJson } from './jobs.js';
import { op, route } from './operation.js';
import { jobSchema, projectParams, retentionPolicyViewSchema } from './schemas.js';

const policy = { 200: { description: 'the policy', schema: retentionPolicyViewSchema } };

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
    summary: 'Run tag retention (202 and the job; its result lists what was or would be deleted)',
    tag: 'retention',
    params: projectParams,
    body: z.object({ dry_run: z.boolean({ error: 'dry_run must be true or false' }).optional() }),
    bodyRequired: false,
    responses: { 202: { description: 'queued: the job', schema: jobSchema } },
  }),
};

const policyJson = (p: RetentionPolicy): z.output<typeof retentionPolicyViewSchema> => ({
  rules: p.rules,
  schedule: p.schedule,
  next_runs: p.schedule ? nextRuns(p.schedule, 3).map((d) => d.toISOString()) : [],
  updated_at: iso(p.updatedAt),
});

/** Tag retention per project (project admins). */
export function retentionRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  route(r, '/projects', retentionOps.get, async (c, v) => c.json(policyJson(await c.var.services.retention.get(c.var.principal, v.params().project))));

  route(r, '/projects', retentionOps.put, async (c, v) => {
    const p = await c.var.services.retention.put(c.var.principal, c.var.actor, v.params().project, await v.json());
    return c.json(policyJson(p));
  });

  route(r, '/projects', retentionOps.run, async (c, v) => {
    const raw = c.req.header('content-type') ? await v.body() : {};
    const id = await c.var.services.retention.run(c.var.principal, c.var.actor, v.params().project, { dryRun: raw.dry_run === true });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202);
  });

  return r;
}
