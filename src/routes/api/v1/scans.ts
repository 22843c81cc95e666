import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, badRequest, denied } from '../../../errors.js';
import { filterFindings } from '../../../scanner/findings.js';
import type { Finding } from '../../../scanner/matcher.js';
import { cycloneDx, findingsCsv } from '../../../scanner/sbom.js';
import { z } from 'zod';
import { iso, requireSystemAdmin, type Ctx } from '../../http.js';
import { isSystemAdmin } from '../../../auth/principal.js';
import { acceptedJob } from './jobs.js';
import path from 'node:path';
import { receiveUpload } from '../../body.js';
import { VULNDB_IMPORT_LIMIT } from '../../../services/upload-slots.js';
import { NotJsonError } from '../../../scanner/advisory-store.js';
import type { ScannerRegistration } from '../../../services/scanner-registry.js';
import { FINDING_SORTS } from '../../../scanner/findings.js';
import { SEVERITIES } from '../../../scanner/severity.js';
import { op, route } from './operation.js';
import { CONFIG_LIST_LIMIT, listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { pageArray, SORTS } from '../../../paging.js';
import { adapterScannerSchema, artifactParams, type findingSchema, importStatsSchema, jobSchema, projectParams, reportSchema, scannerRegistrationSchema } from './schemas.js';

const accepted = { 202: { description: 'queued: the job', schema: jobSchema } };
const scannerPick = z.object({ scanner: z.string().nullable().describe('the picked adapter, null for none') });
const done = { 204: { description: 'done' } };

export const scanOps = {
  scan: op({
    method: 'post',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}/scan',
    summary: 'Scan an artifact (202 and the job)',
    tag: 'scans',
    params: artifactParams,
    responses: accepted,
  }),
  vulnerabilities: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}/vulnerabilities',
    summary: 'The latest report, findings filtered and paged (404 until one exists; format=csv for CSV)',
    tag: 'scans',
    security: 'public',
    params: artifactParams,
    query: paginationQuerySchema.extend({
      severity: z
        .enum(SEVERITIES, { error: `severity must be one of ${SEVERITIES.join(', ')}` })
        .optional()
        .describe('this severity and worse'),
      package: z.string().max(255).optional().describe('part of the package name'),
      fixable: z.enum(['true', 'false', '1', '0']).optional().describe('only findings with a fixed version'),
      q: z.string().max(255).optional().describe('part of an advisory id, alias or summary'),
      sort: z.enum(FINDING_SORTS, { error: 'sort must be severity, package or id' }).optional(),
      format: z.enum(['json', 'csv']).optional().describe('csv: every matching finding as CSV (or Accept: text/csv)'),
    }),
    responses: { 200: { description: 'the report', schema: reportSchema, types: { 'text/csv': z.string() } } },
  }),
  sbom: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}/sbom',
    summary: 'CycloneDX 1.5 SBOM of the latest report',
    tag: 'scans',
    security: 'public',
    params: artifactParams,
    responses: {
      200: {
        description: 'the SBOM',
        types: { 'application/vnd.cyclonedx+json': z.looseObject({ bomFormat: z.literal('CycloneDX'), specVersion: z.literal('1.5') }) },
      },
    },
  }),
};

export const scannerOps = {
  list: op({
    method: 'get',
    path: '/scanners',
    summary: 'Registered external scanner adapters by name (URLs for system admins only; keyset cursors)',
    tag: 'scans',
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of adapters', schema: listEnvelopeSchema(scannerRegistrationSchema) } },
  }),
  register: op({
    method: 'post',
    path: '/scanners',
    summary: 'Register an external scanner adapter (system admins)',
    tag: 'scans',
    body: z.lazy(() => registerSchema),
    responses: { 201: { description: 'registered, with the adapter’s metadata', schema: scannerRegistrationSchema.extend({ scanner: adapterScannerSchema }) } },
    errors: [409, 503],
  }),
  remove: op({
    method: 'delete',
    path: '/scanners/{name}',
    summary: 'Remove a registered adapter (system admins)',
    tag: 'scans',
    params: z.object({ name: z.string().min(1) }),
    responses: done,
    errors: [409],
  }),
  system: op({
    method: 'get',
    path: '/system/scanner',
    summary: 'The system-wide external scanner adapter',
    tag: 'system',
    responses: { 200: { description: 'the default adapter', schema: z.object({ scanner: z.string().nullable(), url: z.string().nullable() }) } },
  }),
  setSystem: op({
    method: 'put',
    path: '/system/scanner',
    summary: 'Pick the default adapter {scanner: name|null}, or register one as `default` {url, authorization?}',
    tag: 'system',
    body: z.lazy(() => z.union([pickSchema, legacySchema])),
    responses: {
      200: {
        description: 'the default adapter',
        schema: z.object({ scanner: z.string().nullable(), url: z.string().nullable(), metadata: adapterScannerSchema.optional() }),
      },
    },
    errors: [503],
  }),
  clearSystem: op({ method: 'delete', path: '/system/scanner', summary: 'No default adapter (the built-in scanner)', tag: 'system', responses: done }),
  project: op({
    method: 'get',
    path: '/projects/{project}/scanner',
    summary: 'The project’s external scanner adapter',
    tag: 'scans',
    params: projectParams,
    responses: { 200: { description: 'picked and effective adapter', schema: scannerPick.extend({ effective: z.string().describe('the adapter in use, `built-in` for none') }) } },
  }),
  setProject: op({
    method: 'put',
    path: '/projects/{project}/scanner',
    summary: 'Pick a registered scanner adapter for the project {scanner: name|null}',
    tag: 'scans',
    params: projectParams,
    // `{url}` is parsed to be refused with a reason (403 for project admins, 400 naming the way for system admins).
    body: z.lazy(() => z.union([pickSchema, z.looseObject({ url: z.string() }).describe('refused: register the adapter first (POST /api/v1/scanners), then pick it')])),
    responses: { 200: { description: 'the picked adapter', schema: scannerPick } },
  }),
  clearProject: op({ method: 'delete', path: '/projects/{project}/scanner', summary: 'Go back to the system default', tag: 'scans', params: projectParams, responses: done }),
};

export const scanSystemOps = {
  scanAll: op({ method: 'post', path: '/system/scan-all', summary: 'Scan every artifact (202 and the job)', tag: 'system', responses: accepted }),
  vulndb: op({
    method: 'get',
    path: '/vulndb',
    summary: 'Advisory database status per ecosystem',
    tag: 'vulnerabilities',
    responses: {
      200: {
        description: 'the status',
        schema: z.object({
          updated_at: z.iso.datetime({ offset: true }).nullable(),
          advisories: z.number().int().min(0),
          ecosystems: z.array(z.object({ ecosystem: z.string(), advisories: z.number().int().min(0) })),
        }),
      },
    },
  }),
  import: op({
    method: 'post',
    path: '/vulndb/import',
    summary: 'Import OSV advisories (JSON, zip, or multipart "file")',
    tag: 'vulnerabilities',
    bodyTypes: {
      'application/json': z.union([z.looseObject({ id: z.string() }), z.array(z.looseObject({ id: z.string() }))]).describe('an OSV record or an array of them'),
      'application/zip': z.string().meta({ description: 'a zip of OSV JSON files', contentMediaType: 'application/zip' }),
      'multipart/form-data': z.object({ file: z.string().meta({ description: 'the JSON or zip file', contentMediaType: 'application/octet-stream' }) }),
    },
    responses: { 200: { description: 'what was imported', schema: importStatsSchema } },
    errors: [503],
  }),
};

export const findingJson = (f: Finding): z.output<typeof findingSchema> => ({
  id: f.advisoryId,
  aliases: f.aliases,
  advisories: f.advisories ?? [f.advisoryId],
  severity: f.severity,
  cvss_score: f.cvssScore,
  cvss_vector: f.cvssVector,
  package: f.package,
  type: f.type,
  installed_version: f.installedVersion,
  source_package: f.sourceName ?? null,
  source_version: f.sourceVersion ?? null,
  fixed_version: f.fixedVersion,
  summary: f.summary,
  links: f.links,
  path: f.path,
});

/** Scans, reports, SBOMs: under /projects/{project}/repositories/{repo}/artifacts/{reference}. */
export function scanRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const at = '/projects';
  const load = async (c: Ctx, p: { project: string; repo: string; reference: string }) => c.var.services.repositories.artifact(c.var.principal, p.project, p.repo, p.reference);
  const report = async (c: Ctx, p: { project: string; repo: string; reference: string }) => {
    const x = await load(c, p);
    const rep = await c.var.services.scans.report(x.artifact.id);
    if (!rep || (rep.status === 'running' && rep.finishedAt === null)) throw new AppError('NOT_FOUND', 'no scan report yet for this artifact');
    return { ...x, rep };
  };

  route(r, at, scanOps.scan, async (c, v) => {
    const { id } = await c.var.services.scanRequests.scanArtifact(c.var.principal, c.var.actor, await load(c, v.params()));
    return acceptedJob(c, id);
  });

  route(r, at, scanOps.vulnerabilities, async (c, v) => {
    const query = v.query();
    const { repository, artifact, rep } = await report(c, v.params());
    const findings = filterFindings(rep.findings, {
      severity: query.severity,
      package: query.package,
      fixable: query.fixable === 'true' || query.fixable === '1',
      q: query.q,
      sort: query.sort,
    });
    if (query.format === 'csv' || (c.req.header('accept') ?? '').startsWith('text/csv')) {
      c.header('Content-Disposition', `attachment; filename="${repository.name.replace(/\//g, '_')}-${artifact.digest.slice(7, 19)}-vulnerabilities.csv"`);
      return c.body(findingsCsv(findings), 200, { 'Content-Type': 'text/csv; charset=utf-8' });
    }
    // Keyset pages over the report's findings: a cursor holds a finding's place in the report and is bound to this
    // report (its finish time) and these filters; a rescan starts the list again with a 400 for old cursors.
    const list = listId('report-findings', artifact.digest, rep.finishedAt, query.severity, query.package, query.fixable, query.q, query.sort);
    const q = listQuery(c, list, SORTS.reportFindings, { defaultLimit: 100 });
    const index = new Map(rep.findings.map((f, i) => [f, i]));
    const page = pageArray(findings, (f) => index.get(f)!, q.req);
    const cursors = c.var.services.cursors;
    const out: z.output<typeof reportSchema> = {
      artifact: artifact.digest,
      status: rep.status,
      scanner: rep.scanner,
      db_updated_at: iso(rep.dbUpdatedAt),
      started_at: iso(rep.startedAt),
      finished_at: iso(rep.finishedAt),
      os: rep.os,
      summary: { ...rep.counts, total: rep.findings.length, fixable: rep.fixable },
      completeness: rep.completeness,
      gaps: rep.gaps,
      problems: rep.problems,
      error: rep.error,
      total: findings.length,
      ...(q.page !== undefined ? { page: q.page } : {}),
      limit: q.limit,
      items: page.items.map(findingJson),
      next_cursor: page.next ? cursors.encode(list, page.next, false) : null,
      prev_cursor: page.prev ? cursors.encode(list, page.prev, true) : null,
    };
    return c.json(out);
  });

  route(r, at, scanOps.sbom, async (c, v) => {
    const { repository, artifact, rep } = await report(c, v.params());
    c.header('Content-Disposition', `attachment; filename="${repository.name.replace(/\//g, '_')}-${artifact.digest.slice(7, 19)}.cdx.json"`);
    return c.body(JSON.stringify(cycloneDx({ name: repository.name, digest: artifact.digest }, rep.os, rep.packages, rep.findings), null, 2), 200, {
      'Content-Type': 'application/vnd.cyclonedx+json; version=1.5',
    });
  });

  return r;
}

const urlSchema = z
  .string()
  .max(1024)
  .refine((u) => {
    try {
      const x = new URL(u);
      return (x.protocol === 'http:' || x.protocol === 'https:') && !x.username && !x.password;
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials');

const registerSchema = z.object({ name: z.string().max(64), url: urlSchema, authorization: z.string().max(4096).optional() }).strict();
const legacySchema = z.object({ url: urlSchema, authorization: z.string().max(4096).optional() }).strict();
const pickSchema = z.object({ scanner: z.string().max(64).nullable() }).strict();

const registrationJson = (r: ScannerRegistration, full: boolean) => ({ name: r.name, ...(full ? { url: r.url, created_at: iso(r.createdAt), updated_at: iso(r.updatedAt) } : {}) });

/**
 * External scanner adapters, Harbor's way: system admins register endpoints (`/scanners`) and set the system default;
 * project admins pick one of the registered adapters by name. Nobody else makes Berth call a URL.
 */
export function scannerRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const projectFor = async (c: Ctx, name: string) => {
    const project = await c.var.services.projects.get(c.var.principal, name);
    await c.var.services.authz.require(c.var.principal, 'project:update', project);
    return project;
  };
  const isAdmin = (c: Ctx) => isSystemAdmin(c.var.principal);

  route(r, '', scannerOps.list, async (c) => {
    if (c.var.principal.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    const list = listId('scanners');
    const q = listQuery(c, list, SORTS.scanners, { defaultLimit: CONFIG_LIST_LIMIT });
    const admin = isAdmin(c);
    return listResponse(c, list, q, await c.var.services.scanners.page(q.req), (x) => registrationJson(x, admin));
  });
  route(r, '', scannerOps.register, async (c, v) => {
    requireAdmin(c);
    const { registration, metadata } = await c.var.services.scanners.register(await v.body());
    await c.var.services.audit.record(c.var.actor, 'register', 'scanner', registration.name, { url: registration.url });
    return c.json({ ...registrationJson(registration, true), scanner: metadata.scanner }, 201);
  });
  route(r, '', scannerOps.remove, async (c, v) => {
    requireAdmin(c);
    const { name } = v.params();
    await c.var.services.scanners.remove(name);
    await c.var.services.audit.record(c.var.actor, 'delete', 'scanner', name.slice(0, 64));
    return c.body(null, 204);
  });

  route(r, '', scannerOps.system, async (c) => {
    requireAdmin(c);
    const s = await c.var.services.scanners.picked(null);
    return c.json({ scanner: s?.name ?? null, url: s?.url ?? null });
  });
  // `{scanner: name}` picks a registered adapter; `{url, authorization?}` (the earlier form) registers it as
  // `default` and picks it.
  route(r, '', scannerOps.setSystem, async (c, v) => {
    requireAdmin(c);
    const body = await v.body();
    let name: string | null;
    let scanner: unknown = null;
    if ('url' in body) {
      const reg = await c.var.services.scanners.register({ name: 'default', ...body });
      name = reg.registration.name;
      scanner = reg.metadata.scanner;
    } else {
      name = body.scanner;
    }
    const picked = await c.var.services.scanners.pick(null, name);
    await c.var.services.audit.record(c.var.actor, 'update', 'scanner', 'system', { scanner: name });
    return c.json({ scanner: picked?.name ?? null, url: picked?.url ?? null, ...(scanner ? { metadata: scanner } : {}) });
  });
  route(r, '', scannerOps.clearSystem, async (c) => {
    requireAdmin(c);
    await c.var.services.scanners.pick(null, null);
    return c.body(null, 204);
  });

  route(r, '', scannerOps.project, async (c, v) => {
    const project = await projectFor(c, v.params().project);
    const own = await c.var.services.scanners.picked(project.id);
    const effective = await c.var.services.scanners.scannerFor(project.id);
    return c.json({ scanner: own?.name ?? null, effective: effective?.name ?? 'built-in' });
  });
  route(r, '', scannerOps.setProject, async (c, v) => {
    const project = await projectFor(c, v.params().project);
    const body = await v.body();
    if ('url' in body) {
      if (!isAdmin(c)) throw denied('only system admins register scanner endpoints; pick a registered one with {"scanner": "<name>"} (GET /api/v1/scanners)');
      throw badRequest('register the adapter first (POST /api/v1/scanners), then pick it with {"scanner": "<name>"}');
    }
    const picked = await c.var.services.scanners.pick(project.id, body.scanner);
    await c.var.services.audit.record(c.var.actor, 'update', 'scanner', project.name, { scanner: body.scanner });
    return c.json({ scanner: picked?.name ?? null });
  });
  route(r, '', scannerOps.clearProject, async (c, v) => {
    const project = await projectFor(c, v.params().project);
    await c.var.services.scanners.pick(project.id, null);
    return c.body(null, 204);
  });
  return r;
}

/** POST /system/scan-all and the advisory database. */
export function scanSystemRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  route(r, '', scanSystemOps.scanAll, async (c) => {
    const { id } = await c.var.services.scanRequests.scanAll({ principal: c.var.principal, actor: c.var.actor });
    return acceptedJob(c, id);
  });
  route(r, '', scanSystemOps.vulndb, async (c) => {
    if (c.var.principal.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    const s = await c.var.services.advisories.status();
    return c.json({ updated_at: iso(s.updatedAt), advisories: s.total, ecosystems: s.ecosystems });
  });
  // Authorization first (no byte of the body is read before), then one upload slot, then the body to a temporary
  // file with the import limit, then the import from that file.
  route(r, '', scanSystemOps.import, async (c) => {
    requireAdmin(c);
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const kinds: Record<string, 'json' | 'zip' | 'multipart'> = { 'application/json': 'json', 'application/zip': 'zip', 'application/x-zip-compressed': 'zip', 'multipart/form-data': 'multipart' };
    const kind = kinds[type];
    if (!kind) throw new AppError('UNSUPPORTED', 'send application/json (OSV records), application/zip (OSV files), or a multipart form with "file"');
    const { advisoryImports, uploads, config } = c.var.services;
    const upload = await receiveUpload(c, { tmpDir: path.join(config.dataDir, 'tmp'), maxBytes: VULNDB_IMPORT_LIMIT, slots: uploads, field: kind === 'multipart' ? 'file' : undefined });
    let stats;
    try {
      stats = await advisoryImports.importFile({ principal: c.var.principal, actor: c.var.actor }, upload.path, { source: 'osv', zip: kind === 'zip' });
    } catch (err) {
      if (err instanceof NotJsonError) throw badRequest(kind === 'json' ? 'malformed JSON' : err.message);
      if (err instanceof AppError) throw err;
      throw badRequest(`not a readable zip: ${(err as Error).message.slice(0, 200)}`);
    } finally {
      upload.dispose();
    }
    return c.json(stats);
  });
  return r;
}

const requireAdmin = (c: Ctx) => requireSystemAdmin(c, 'only system admins do this');
