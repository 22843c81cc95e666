import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { systemAdminOnly } from '../../http.js';
import { LOCALES } from '../../../i18n/index.js';
import { ADVISORY_ID } from '../../../registry/reference.js';
import { op, route } from './operation.js';
import { allowlistSchema as allowlistView, jobSchema, outboundRulesSchema } from './schemas.js';

const allowlistSchema = z
  .object({
    items: z.array(z.string().regex(ADVISORY_ID, 'not an advisory or CVE id')).max(1000),
    expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  .strict();
import { acceptedJob } from './jobs.js';

const outboundSchema = z.object({ allow: z.array(z.string().max(64)).max(200).optional(), deny: z.array(z.string().max(64)).max(200).optional() }).strict();
const languageSchema = z.object({ language: z.enum(LOCALES).describe('the site default language (Slack webhook messages)') }).strict();
const accepted = { 202: { description: 'queued: the job', schema: jobSchema } };
const bool = (name: string) => z.boolean({ error: `${name} must be true or false` }).optional();

export const systemOps = {
  gc: op({
    method: 'post',
    path: '/system/gc',
    summary: 'Garbage collection (202 and the job)',
    tag: 'system',
    body: z.object({ dry_run: bool('dry_run'), delete_untagged: bool('delete_untagged').describe('also delete untagged artifacts') }).strict(),
    bodyRequired: false,
    responses: accepted,
  }),
  allowlist: op({
    method: 'get',
    path: '/system/cve-allowlist',
    summary: 'The system CVE allowlist',
    tag: 'system',
    responses: { 200: { description: 'the allowlist', schema: allowlistView } },
  }),
  setAllowlist: op({
    method: 'put',
    path: '/system/cve-allowlist',
    summary: 'Set the system CVE allowlist',
    tag: 'system',
    body: allowlistSchema,
    responses: { 200: { description: 'the allowlist', schema: allowlistView } },
  }),
  outbound: op({
    method: 'get',
    path: '/system/outbound-policy',
    summary: 'The outbound address policy {allow, deny} (plus the environment’s)',
    tag: 'system',
    responses: { 200: { description: 'stored rules and the environment’s', schema: outboundRulesSchema.extend({ environment: outboundRulesSchema }) } },
  }),
  setOutbound: op({
    method: 'put',
    path: '/system/outbound-policy',
    summary: 'Set the outbound address policy {allow, deny}: IPs or CIDRs, optionally :port',
    tag: 'system',
    body: outboundSchema,
    responses: { 200: { description: 'the stored rules', schema: outboundRulesSchema } },
  }),
  language: op({
    method: 'get',
    path: '/system/default-language',
    summary: 'The site default language: Slack webhook messages speak it',
    tag: 'system',
    responses: { 200: { description: 'the language', schema: languageSchema } },
  }),
  setLanguage: op({
    method: 'put',
    path: '/system/default-language',
    summary: 'Set the site default language (`en` or `zh-CN`)',
    tag: 'system',
    body: languageSchema,
    responses: { 200: { description: 'the language', schema: languageSchema } },
  }),
  reconcile: op({ method: 'post', path: '/system/reconcile', summary: 'Reconcile the database with the registry (202 and the job)', tag: 'system', responses: accepted }),
};

/** System operations: system admins only. */
export function systemRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', systemAdminOnly('only system admins run system operations'));
  const at = '/system';
  route(r, at, systemOps.gc, async (c, v) => {
    const type = c.req.header('content-type') ?? '';
    const b = type.includes('json') ? await v.body() : {};
    const { id } = await c.var.services.maintenance.collectGarbage({ principal: c.var.principal, actor: c.var.actor }, { dryRun: b.dry_run === true, deleteUntagged: b.delete_untagged === true });
    return acceptedJob(c, id);
  });

  route(r, at, systemOps.allowlist, async (c) => {
    const a = await c.var.services.policy.systemAllowlist();
    return c.json({ items: a.items, expires_at: a.expiresAt ? new Date(a.expiresAt).toISOString() : null });
  });

  route(r, at, systemOps.setAllowlist, async (c, v) => {
    const body = await v.body();
    const a = await c.var.services.policy.setSystemAllowlist({ items: body.items, expiresAt: body.expires_at ? Date.parse(body.expires_at) : null });
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'cve-allowlist', { items: a.items.length, expires_at: body.expires_at ?? null });
    return c.json({ items: a.items, expires_at: a.expiresAt ? new Date(a.expiresAt).toISOString() : null });
  });

  // The outbound address policy (src/net/outbound.ts): stored rules, plus the environment's shown apart.
  route(r, at, systemOps.outbound, async (c) => {
    const stored = await c.var.services.outbound.rules();
    const { outboundAllow, outboundDeny } = c.var.services.config;
    return c.json({ ...stored, environment: { allow: outboundAllow, deny: outboundDeny } });
  });

  route(r, at, systemOps.setOutbound, async (c, v) => {
    const body = await v.body();
    const rules = await c.var.services.outbound.setRules({ allow: body.allow ?? [], deny: body.deny ?? [] });
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'outbound-policy', { ...rules });
    return c.json(rules);
  });

  route(r, at, systemOps.language, async (c) => c.json({ language: await c.var.services.siteLanguage.get() }));

  route(r, at, systemOps.setLanguage, async (c, v) => {
    const { language } = await v.body();
    await c.var.services.siteLanguage.set(language);
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'default-language', { language });
    return c.json({ language });
  });

  route(r, at, systemOps.reconcile, async (c) => {
    const { id } = await c.var.services.maintenance.reconcile({ principal: c.var.principal, actor: c.var.actor });
    return acceptedJob(c, id);
  });
  return r;
}
