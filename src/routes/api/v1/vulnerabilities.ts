import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import type { FindingHit } from '../../../services/security-hub-service.js';
import { pageResponse } from '../../http.js';
import { op, route } from './operation.js';
import { hitSchema, listOf, pageOf, pageQuery } from './schemas.js';

// Over-long values are cut one past the service's limit, so the service names the problem.
const cut = (max: number) =>
  z
    .string()
    .transform((s) => s.slice(0, max + 1))
    .optional();
const projectFilter = cut(255).describe('a project name');

export const vulnerabilityOps = {
  search: op({
    method: 'get',
    path: '/vulnerabilities',
    summary: 'Security hub: findings across readable artifacts (paginated)',
    tag: 'vulnerabilities',
    query: pageQuery.extend({
      cve: cut(128).describe('a CVE or advisory id'),
      package: cut(255).describe('a package name'),
      version: cut(300).describe('a version range such as ">=1.2,<1.3" (needs package)'),
      severity: cut(16).describe('critical, high, medium, low or unknown: at or above'),
      project: projectFilter,
    }),
    responses: { 200: { description: 'a page of findings', schema: listOf(hitSchema) } },
    errors: [404],
  }),
  summary: op({
    method: 'get',
    path: '/vulnerabilities/summary',
    summary: 'Security hub: totals by severity, top CVEs with affected artifacts, most vulnerable artifacts',
    tag: 'vulnerabilities',
    query: z.object({ project: projectFilter }),
    errors: [404],
    responses: {
      200: {
        description: 'the overview',
        schema: z.object({
          totals: z.object({ critical: z.number(), high: z.number(), medium: z.number(), low: z.number(), unknown: z.number() }),
          scanned_artifacts: z.number().int().min(0),
          top_cves: z.array(z.object({ cve: z.string(), severity: z.string(), artifacts: z.number().int().min(0) })),
          most_vulnerable: z.array(
            z.object({
              project: z.string(),
              repository: z.string(),
              digest: z.string(),
              critical: z.number(),
              high: z.number(),
              medium: z.number(),
              low: z.number(),
              unknown: z.number(),
            }),
          ),
        }),
      },
    },
  }),
};

export const hitJson = (h: FindingHit): z.output<typeof hitSchema> => ({
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

  route(r, '/vulnerabilities', vulnerabilityOps.search, async (c, v) => {
    const query = v.query();
    const q = pageOf(query, 50);
    const { items, total } = await c.var.services.securityHub.search(c.var.principal, {
      cve: query.cve,
      package: query.package,
      version: query.version,
      severity: query.severity,
      project: query.project,
      limit: q.limit,
      offset: q.offset,
    });
    return pageResponse(c, items.map(hitJson), total, q);
  });

  route(r, '/vulnerabilities', vulnerabilityOps.summary, async (c, v) => {
    const s = await c.var.services.securityHub.summary(c.var.principal, { project: v.query().project });
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
