import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { SEVERITIES, type Severity } from '../../scanner/severity.js';
import { SORTS } from '../../paging.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { chartWords, labelledBars, severityBar, severityColumns } from './charts.js';
import { page, requireLogin, tr, errorText } from './render.js';

const str = (v: string | undefined, max: number) => (v ?? '').trim().slice(0, max);

/** The security hub page: totals by severity, top CVEs, most vulnerable artifacts, and the search. */
export function securityPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);

  r.get('/', async (c) => {
    const hub = c.var.services.securityHub;
    const f = {
      cve: str(c.req.query('cve'), 128),
      package: str(c.req.query('package'), 255),
      version: str(c.req.query('version'), 300),
      severity: str(c.req.query('severity'), 16),
      project: str(c.req.query('project'), 255),
    };
    const list = listId('findings', f.cve || undefined, f.package || undefined, f.version || undefined, f.severity || undefined, f.project || undefined);
    const q = listQuery(c, list, SORTS.findings, { defaultLimit: 50 });
    const summary = await hub.summary(c.var.principal, { project: f.project || undefined }).catch((err) => {
      if (err instanceof AppError && err.status < 500) return null;
      throw err;
    });
    const searching = !!(f.cve || f.package || f.severity);
    let results: { items: unknown[]; total: number | null; error?: string } | null = null;
    let pager: ReturnType<typeof cursorPager> | null = null;
    let status = 200;
    if (searching) {
      try {
        const res = await hub.search(c.var.principal, {
          cve: f.cve || undefined,
          package: f.package || undefined,
          version: f.version || undefined,
          severity: f.severity || undefined,
          project: f.project || undefined,
          page: q.req,
        });
        const { items, total } = res;
        pager = cursorPager(c, list, res, q);
        results = {
          items: items.map((h) => ({
            ...h,
            href: `/projects/${h.project}/repositories/${encodeURIComponent(h.repository.slice(h.project.length + 1))}/artifacts/${h.digest}`,
            short: h.digest.slice(7, 19),
          })),
          total,
        };
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        results = { items: [], total: 0, error: errorText(c, err) };
        status = err.status === 400 ? 422 : err.status;
      }
    }
    const words = chartWords(tr(c));
    return page(
      c,
      'pages/security/index',
      {
        title: tr(c)('security.title'),
        nav: 'security',
        f,
        severities: SEVERITIES,
        summary: summary && {
          ...summary,
          columns: severityColumns(summary.totals, undefined, undefined, words),
          bar: severityBar(summary.totals, undefined, undefined, words),
          cveChart: summary.topCves.length
            ? labelledBars(
                summary.topCves.map((x) => ({ label: x.cve, value: x.artifacts, severity: x.severity as Severity })),
                undefined,
                undefined,
                words,
              )
            : '',
          mostVulnerable: summary.mostVulnerable.map((a) => ({
            ...a,
            href: `/projects/${a.project}/repositories/${encodeURIComponent(a.repository.slice(a.project.length + 1))}/artifacts/${a.digest}`,
            short: a.digest.slice(7, 19),
            bar: severityBar({ critical: a.critical, high: a.high, medium: a.medium, low: a.low, unknown: a.unknown }, 200, 12, words),
          })),
        },
        results,
        pager,
      },
      status,
    );
  });

  return r;
}
