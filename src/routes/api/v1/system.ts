import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, denied } from '../../../errors.js';

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
    const s = await c.var.services.registry.sync.reconcile();
    await c.var.services.audit.record(c.var.actor, 'reconcile', 'system', 'registry', { ...s });
    return c.json({
      repositories: s.repositories,
      artifacts_added: s.artifactsAdded,
      artifacts_removed: s.artifactsRemoved,
      tags_set: s.tagsSet,
      tags_removed: s.tagsRemoved,
      duration_ms: s.durationMs,
    });
  });
  return r;
}
