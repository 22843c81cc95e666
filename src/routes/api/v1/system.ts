import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, denied } from '../../../errors.js';
import { RECONCILE } from '../../../jobs/types/reconcile.js';
import { jobJson } from './jobs.js';

/** System operations: system admins only. */
export function systemRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', async (c, next) => {
    const p = c.var.principal;
    if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins run system operations');
    await next();
  });
  r.post('/reconcile', async (c) => {
    const { id } = await c.var.services.jobs.enqueue(RECONCILE, { reason: 'manual', by: c.var.actor.name });
    await c.var.services.audit.record(c.var.actor, 'reconcile', 'system', 'registry', { job: id });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202, { Location: `/api/v1/jobs/${id}` });
  });
  return r;
}
