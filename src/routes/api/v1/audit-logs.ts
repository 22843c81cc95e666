import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { requireSystemAdmin } from '../../http.js';
import { SORTS } from '../../../paging.js';
import { listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { op, route } from './operation.js';
import { auditEntrySchema } from './schemas.js';

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
    summary: 'Audit and access log, newest first (system admins; keyset cursors, no total)',
    tag: 'system',
    query: paginationQuerySchema.extend({
      username: text,
      action: text,
      resource_type: text,
      resource: text,
      from: timeParam('from').optional(),
      to: timeParam('to').optional(),
    }),
    responses: { 200: { description: 'a page of entries', schema: listEnvelopeSchema(auditEntrySchema) } },
  }),
};

/** The audit log: system admins only. Newest first, keyset pagination with `cursor`. */
export function auditLogRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  route(r, '/audit-logs', auditLogOps.list, async (c, v) => {
    requireSystemAdmin(c, 'only system admins read the audit log');
    const q = v.query();
    const filter = { username: q.username, action: q.action, resourceType: q.resource_type, resource: q.resource, from: q.from, to: q.to };
    const list = listId('audit', filter.username, filter.action, filter.resourceType, filter.resource, filter.from, filter.to);
    // The audit log grows without bound: no total (counting even 1000 filtered rows can scan far more).
    const lq = listQuery(c, list, SORTS.newestFirst, { countTotal: false });
    const page = await c.var.services.audit.list({ ...filter, page: lq.req });
    return listResponse(
      c,
      list,
      lq,
      page,
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
    );
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
