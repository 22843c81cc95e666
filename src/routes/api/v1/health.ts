import { Hono } from 'hono';
import type { AppEnv, Services } from '../../../context.js';
import { op, route } from './operation.js';
import { healthSchema } from './schemas.js';

export const healthOps = {
  health: op({
    method: 'get',
    path: '/health',
    summary: 'Readiness of each component',
    tag: 'system',
    security: 'none',
    responses: { 200: { description: 'every component is ready', schema: healthSchema }, 503: { description: 'a component is down', schema: healthSchema } },
  }),
};

/** 200 `{"status":"ok"}` when every component is ready, else 503 naming what is not. */
export function healthRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  route(r, '', healthOps.health, async (c) => {
    const { ok, components } = await runHealth(services);
    c.header('Cache-Control', 'no-store');
    return c.json({ status: ok ? 'ok' : 'degraded', components }, ok ? 200 : 503);
  });
  return r;
}

/** Runs every health check: { ok, components }. */
export async function runHealth(services: Services) {
  const components: Record<string, { status: 'ok' | 'down'; detail?: string }> = {};
  await Promise.all(
    services.health.map(async (h) => {
      try {
        const res = await h.check();
        components[h.name] = res.ok ? { status: 'ok', ...(res.detail ? { detail: res.detail } : {}) } : { status: 'down', detail: res.detail };
      } catch (err) {
        components[h.name] = { status: 'down', detail: (err as Error).message };
      }
    }),
  );
  return { ok: Object.values(components).every((x) => x.status === 'ok'), components };
}
