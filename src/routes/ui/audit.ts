import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { denied } from '../../errors.js';
import { intParam } from '../http.js';
import { auditView } from './dashboard.js';
import { page, requireLogin, tr } from './render.js';

export function auditPages(kind: 'audit' | 'access'): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const base = kind === 'audit' ? '/audit-logs' : '/access-log';
  r.get('/', requireLogin, async (c) => {
    const p = c.var.principal;
    if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins read the audit log');
    const filter = { username: c.req.query('username')?.slice(0, 255) ?? '', resource: c.req.query('resource')?.slice(0, 255) ?? '' };
    const cursor = intParam(c.req.query('cursor'), 'cursor', 1, Number.MAX_SAFE_INTEGER);
    // The access log is the registry side of the audit log: pushes, pulls and deletions of artifacts.
    const { items, nextCursor } = await c.var.services.audit.list({
      username: filter.username || undefined,
      resource: filter.resource || undefined,
      resourceType: kind === 'access' ? 'artifact' : undefined,
      beforeId: cursor,
      limit: 50,
    });
    const next = nextCursor ? `${base}?${new URLSearchParams({ ...filter, cursor: String(nextCursor) }).toString()}` : null;
    return page(c, 'pages/audit/index', { title: tr(c)(kind === 'audit' ? 'audit.title_audit' : 'audit.title_access'), nav: kind, base, items: items.map(auditView), filter, next });
  });
  return r;
}
