import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { FindingHit } from '../../../services/security-hub-service.js';
import { SORTS } from '../../../paging.js';
import type { Ctx } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

const opt = (c: Ctx, name: string, max = 300) => {
  const v = c.req.query(name);
  return v === undefined || v === '' ? undefined : v.slice(0, max + 1);
};

export const hitJson = (h: FindingHit) => ({
  project: h.project,
  repository: h.repository,
  digest: h.digest,
  advisory_id: h.advisoryId,
  cve: h.cve,
  package: h.package,
  package_type: h.packageType,
  version: h.version,
  fixed_version: h.fixedVersion,
  severity: h.severity,
});

/** The security hub: findings across every artifact the caller may read. */
export function vulnerabilityRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/', async (c) => {
    const f = { cve: opt(c, 'cve', 128), package: opt(c, 'package', 255), version: opt(c, 'version'), severity: opt(c, 'severity', 16), project: opt(c, 'project', 255) };
    const list = listId('findings', f.cve, f.package, f.version, f.severity, f.project);
    const q = listQuery(c, list, SORTS.findings, { defaultLimit: 50 });
    const page = await c.var.services.securityHub.search(c.var.principal, { ...f, page: q.req });
    return listResponse(c, list, q, page, hitJson);
  });

  r.get('/summary', async (c) => {
    const s = await c.var.services.securityHub.summary(c.var.principal, { project: opt(c, 'project', 255) });
    return c.json({
      totals: s.totals,
      scanned_artifacts: s.scannedArtifacts,
      top_cves: s.topCves,
      most_vulnerable: s.mostVulnerable.map((a) => ({
        project: a.project,
        repository: a.repository,
        digest: a.digest,
        critical: a.critical,
        high: a.high,
        medium: a.medium,
        low: a.low,
        unknown: a.unknown,
      })),
    });
  });

  return r;
}
