import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { AppError, badRequest, denied } from '../../../errors.js';
import { GARBAGE_COLLECTION } from '../../../jobs/types/gc.js';
import { jsonBody } from '../../http.js';

const allowlistSchema = z
  .object({
    items: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{1,127}$/, 'not an advisory or CVE id')).max(1000),
    expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  .strict();
import { RECONCILE } from '../../../jobs/types/reconcile.js';

const outboundSchema = z.object({ allow: z.array(z.string().max(64)).max(200).optional(), deny: z.array(z.string().max(64)).max(200).optional() }).strict();
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
  r.post('/gc', async (c) => {
    const type = c.req.header('content-type') ?? '';
    const b = type.includes('json') ? await jsonBody(c) : {};
    for (const k of Object.keys(b)) if (k !== 'dry_run' && k !== 'delete_untagged') throw badRequest(`unknown field ${k.slice(0, 64)}`);
    if (b.dry_run !== undefined && typeof b.dry_run !== 'boolean') throw badRequest('dry_run must be true or false');
    if (b.delete_untagged !== undefined && typeof b.delete_untagged !== 'boolean') throw badRequest('delete_untagged must be true or false');
    const { id } = await c.var.services.jobs.enqueue(GARBAGE_COLLECTION, { dryRun: b.dry_run === true, deleteUntagged: b.delete_untagged === true });
    await c.var.services.audit.record(c.var.actor, 'gc', 'system', 'registry', { job: id, dry_run: b.dry_run === true, delete_untagged: b.delete_untagged === true });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202, { Location: `/api/v1/jobs/${id}` });
  });

  r.get('/cve-allowlist', async (c) => {
    const a = await c.var.services.policy.systemAllowlist();
    return c.json({ items: a.items, expires_at: a.expiresAt ? new Date(a.expiresAt).toISOString() : null });
  });

  r.put('/cve-allowlist', async (c) => {
    const parsed = allowlistSchema.safeParse(await jsonBody(c));
    if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const a = await c.var.services.policy.setSystemAllowlist({ items: parsed.data.items, expiresAt: parsed.data.expires_at ? Date.parse(parsed.data.expires_at) : null });
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'cve-allowlist', { items: a.items.length, expires_at: parsed.data.expires_at ?? null });
    return c.json({ items: a.items, expires_at: a.expiresAt ? new Date(a.expiresAt).toISOString() : null });
  });

  // The outbound address policy (src/net/outbound.ts): stored rules, plus the environment's shown apart.
  r.get('/outbound-policy', async (c) => {
    const stored = await c.var.services.outbound.rules();
    const { outboundAllow, outboundDeny } = c.var.services.config;
    return c.json({ ...stored, environment: { allow: outboundAllow, deny: outboundDeny } });
  });

  r.put('/outbound-policy', async (c) => {
    const parsed = outboundSchema.safeParse(await jsonBody(c));
    if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const rules = await c.var.services.outbound.setRules({ allow: parsed.data.allow ?? [], deny: parsed.data.deny ?? [] });
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'outbound-policy', { ...rules });
    return c.json(rules);
  });

  r.post('/reconcile', async (c) => {
    const { id } = await c.var.services.jobs.enqueue(RECONCILE, { reason: 'manual', by: c.var.actor.name });
    await c.var.services.audit.record(c.var.actor, 'reconcile', 'system', 'registry', { job: id });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202, { Location: `/api/v1/jobs/${id}` });
  });
  return r;
}
