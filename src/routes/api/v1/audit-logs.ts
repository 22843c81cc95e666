import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, badRequest, denied } from '../../../errors.js';
import { SORTS } from '../../../paging.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

const timeParam = (raw: string | undefined, name: string): number | undefined => {
  if (!raw) return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t) || raw.length > 40) throw badRequest(`${name} must be an ISO 8601 time`);
  return t;
};

/** The audit log: system admins only. Newest first, keyset pagination with `cursor`. */
export function auditLogRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/', async (c) => {
    const p = c.var.principal;
    if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins read the audit log');
    const str = (k: string) => c.req.query(k)?.slice(0, 255) || undefined;
    const filter = {
      username: str('username'),
      action: str('action'),
      resourceType: str('resource_type'),
      resource: str('resource'),
      from: timeParam(c.req.query('from'), 'from'),
      to: timeParam(c.req.query('to'), 'to'),
    };
    const list = listId('audit', filter.username, filter.action, filter.resourceType, filter.resource, filter.from, filter.to);
    // The audit log grows without bound: no total (counting even 1000 filtered rows can scan far more).
    const q = listQuery(c, list, SORTS.newestFirst, { countTotal: false });
    const page = await c.var.services.audit.list({ ...filter, page: q.req });
    return listResponse(c, list, q, page, (e) => ({
      id: e.id,
      time: new Date(e.at).toISOString(),
      username: e.username,
      action: e.action,
      resource_type: e.resourceType,
      resource: e.resource,
      detail: e.detail ? safeJson(e.detail) : null,
      client_ip: e.clientIp,
    }));
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
