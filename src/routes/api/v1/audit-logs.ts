import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { AppError, denied } from '../../../errors.js';
import { op, route } from './operation.js';
import { auditEntrySchema, cursorQuery, listOf } from './schemas.js';

const timeParam = (name: string) =>
  z
    .string()
    .max(40, `${name} must be an ISO 8601 time`)
    .refine((raw) => !Number.isNaN(Date.parse(raw)), `${name} must be an ISO 8601 time`)
    .transform((raw) => Date.parse(raw))
    .describe('an ISO 8601 time');
const text = z.string().max(255).optional();

export const auditLogOps = {
  list: op({
    method: 'get',
    path: '/audit-logs',
    summary: 'Audit and access log, newest first (system admins; keyset pagination with cursor)',
    tag: 'system',
    query: cursorQuery.extend({
      username: text,
      action: text,
      resource_type: text,
      resource: text,
      from: timeParam('from').optional(),
      to: timeParam('to').optional(),
    }),
    responses: { 200: { description: 'a page of entries', schema: listOf(auditEntrySchema) } },
  }),
};

/** The audit log: system admins only. Newest first, keyset pagination with `cursor`. */
export function auditLogRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  route(r, '/audit-logs', auditLogOps.list, async (c, v) => {
    const p = c.var.principal;
    if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins read the audit log');
    const q = v.query();
    const { items, nextCursor } = await c.var.services.audit.list({
      username: q.username,
      action: q.action,
      resourceType: q.resource_type,
      resource: q.resource,
      from: q.from,
      to: q.to,
      beforeId: q.cursor,
      limit: q.limit ?? 20,
    });
    return c.json({
      items: items.map(
        (e): z.output<typeof auditEntrySchema> => ({
          id: e.id,
          time: new Date(e.at).toISOString(),
          username: e.username,
          action: e.action,
          resource_type: e.resourceType,
          resource: e.resource,
          detail: e.detail ? safeJson(e.detail) : null,
          client_ip: e.clientIp,
        }),
      ),
      next_cursor: nextCursor,
    });
  });
  return r;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
