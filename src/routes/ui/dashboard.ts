import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { isSystemAdmin } from '../../auth/principal.js';
import { TOTAL_CAP } from '../../paging.js';
import { chartWords, severityColumns } from './charts.js';
import { fmtTime, page, requireLogin, tr } from './render.js';

export function dashboardPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/', requireLogin, async (c) => {
    const { projects, accounts, audit } = c.var.services;
    const p = c.var.principal;
    const isAdmin = isSystemAdmin(p);
    // Counts stop at TOTAL_CAP (a count of a huge table is what slows pages down): "more than 1000" past that.
    const counted = (n: number | null) => n ?? `> ${TOTAL_CAP}`;
    const visible = counted((await projects.list(p, { page: { limit: 1, countUpTo: TOTAL_CAP } })).total);
    const users = isAdmin ? counted((await accounts.listUsers({ page: { limit: 1, countUpTo: TOTAL_CAP } })).total) : 0;
    const recent = isAdmin ? (await audit.list({ page: { limit: 10 } })).items.map(auditView) : null;
    const system = isAdmin
      ? {
          ...(await c.var.services.repositories.systemCounts()),
          running: await c.var.services.jobs.countActive(),
          vulndb: fmtTime(await c.var.services.advisories.updatedAt()) || tr(c)('common.never'),
        }
      : null;
    // Severity overview across every image the viewer can see (public projects and their own).
    const totals = await c.var.services.scans.visibleTotals(projects.visibility(p));
    const severity = { scanned: totals.scanned, artifacts: totals.artifacts, chart: totals.scanned ? severityColumns(totals.counts, undefined, undefined, chartWords(tr(c))) : '' };
    return page(c, 'pages/dashboard', { title: tr(c)('dashboard.title'), nav: 'dashboard', stats: { projects: visible, users }, system, recent, severity });
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
