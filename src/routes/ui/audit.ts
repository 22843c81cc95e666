import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { denied } from '../../errors.js';
import { SORTS } from '../../paging.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { auditView } from './dashboard.js';
import { page, requireLogin, tr } from './render.js';

export function auditPages(kind: 'audit' | 'access'): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const base = kind === 'audit' ? '/audit-logs' : '/access-log';
  r.get('/', requireLogin, async (c) => {
    const p = c.var.principal;
    if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins read the audit log', { key: 'admins_only' });
    const filter = { username: c.req.query('username')?.slice(0, 255) ?? '', resource: c.req.query('resource')?.slice(0, 255) ?? '' };
    const list = listId(`${kind}-ui`, filter.username, filter.resource);
    const q = listQuery(c, list, SORTS.newestFirst, { defaultLimit: 50, countTotal: false });
    // The access log is the registry side of the audit log: pushes, pulls and deletions of artifacts.
    const res = await c.var.services.audit.list({
      username: filter.username || undefined,
      resource: filter.resource || undefined,
      resourceType: kind === 'access' ? 'artifact' : undefined,
      page: q.req,
    });
    return page(c, 'pages/audit/index', {
      title: tr(c)(kind === 'audit' ? 'audit.title_audit' : 'audit.title_access'),
      nav: kind,
      base,
      items: res.items.map(auditView),
      filter,
      pager: cursorPager(c, list, res, q),
    });
  });
  return r;
}
