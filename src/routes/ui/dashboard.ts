import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { fmtTime, page, requireLogin } from './render.js';

export function dashboardPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/', requireLogin, async (c) => {
    const { projects, accounts, audit } = c.var.services;
    const p = c.var.principal;
    const isAdmin = p.kind === 'user' && p.isAdmin;
    const visible = await projects.list(p, { limit: 1, offset: 0 });
    const users = isAdmin ? (await accounts.listUsers({ limit: 1, offset: 0 })).total : 0;
    const recent = isAdmin ? (await audit.list({ limit: 10 })).items.map(auditView) : null;
    const system = isAdmin
      ? {
          ...(await c.var.services.repositories.systemCounts()),
          running: await c.var.services.jobs.countActive(),
          vulndb: fmtTime(await c.var.services.advisories.updatedAt()) || 'never',
        }
      : null;
    return page(c, 'pages/dashboard', { title: 'Dashboard', nav: 'dashboard', stats: { projects: visible.total, users }, system, recent });
  });
  return r;
}

export const auditView = (e: { at: number; username: string; action: string; resourceType: string; resource: string; clientIp: string }) => ({
  ...e,
  iso: new Date(e.at).toISOString(),
  when: fmtTime(e.at),
});
