import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { chartWords, severityColumns } from './charts.js';
import { fmtTime, page, requireLogin, tr } from './render.js';

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
          vulndb: fmtTime(await c.var.services.advisories.updatedAt()) || tr(c)('common.never'),
        }
      : null;
    // Severity overview across every image the viewer can see (public projects and their own).
    const totals = await c.var.services.scans.visibleTotals(await projects.visibleIds(p));
    const severity = { scanned: totals.scanned, artifacts: totals.artifacts, chart: totals.scanned ? severityColumns(totals.counts, undefined, undefined, chartWords(tr(c))) : '' };
    return page(c, 'pages/dashboard', { title: tr(c)('dashboard.title'), nav: 'dashboard', stats: { projects: visible.total, users }, system, recent, severity });
  });
  return r;
}

export const auditView = (e: { at: number; username: string; action: string; resourceType: string; resource: string; clientIp: string; detail?: string | null }) => ({
  ...e,
  iso: new Date(e.at).toISOString(),
  when: fmtTime(e.at),
  reason: reasonOf(e.detail),
});

/** The `reason` a row's detail carries (a refused pull: the words the client was given), else null. */
function reasonOf(detail: string | null | undefined): string | null {
  if (!detail) return null;
  try {
    const d = JSON.parse(detail) as unknown;
    return d && typeof d === 'object' && typeof (d as { reason?: unknown }).reason === 'string' ? (d as { reason: string }).reason.slice(0, 1000) : null;
  } catch {
    return null;
  }
}
