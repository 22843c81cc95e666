import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, badRequest, denied } from '../../../errors.js';
import { PRIORITY_PUSH, SCAN_ALL, SCAN_IMAGE, scanKey } from '../../../jobs/types/scan.js';
import { filterFindings } from '../../../scanner/findings.js';
import type { Finding } from '../../../scanner/matcher.js';
import { cycloneDx, findingsCsv } from '../../../scanner/sbom.js';
import { z } from 'zod';
import { findingFilter, iso, jsonBody, pageQuery, type Ctx } from '../../http.js';
import { jobJson } from './jobs.js';
import path from 'node:path';
import { receiveUpload } from '../../body.js';
import { VULNDB_IMPORT_LIMIT } from '../../../services/upload-slots.js';
import { NotJsonError } from '../../../scanner/advisory-store.js';
import type { ScannerRegistration } from '../../../services/scanner-registry.js';

export const findingJson = (f: Finding) => ({
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
  const base = '/:project/repositories/:repo/artifacts/:reference';
  const load = async (c: Ctx) => {
    const p = (n: string) => c.req.param(n) ?? '';
    return c.var.services.repositories.artifact(c.var.principal, p('project'), p('repo'), p('reference'));
  };
  const report = async (c: Ctx) => {
    const x = await load(c);
    const rep = await c.var.services.scans.report(x.artifact.id);
    if (!rep || (rep.status === 'running' && rep.finishedAt === null)) throw new AppError('NOT_FOUND', 'no scan report yet for this artifact');
    return { ...x, rep };
  };

  r.post(`${base}/scan`, async (c) => {
    const { project, repository, artifact } = await load(c);
    await c.var.services.authz.require(c.var.principal, 'artifact:scan', project);
    const { id } = await c.var.services.jobs.enqueue(
      SCAN_IMAGE,
      { repository: repository.name, digest: artifact.digest, reason: 'manual' },
      { uniqueKey: scanKey(artifact.id), releaseKeyOnFinish: true, priority: PRIORITY_PUSH },
    );
    await c.var.services.audit.record(c.var.actor, 'scan', 'artifact', `${repository.name}@${artifact.digest}`, { job: id });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202, { Location: `/api/v1/jobs/${id}` });
  });

  r.get(`${base}/vulnerabilities`, async (c) => {
    const { repository, artifact, rep } = await report(c);
    const findings = filterFindings(rep.findings, findingFilter(c));
    if ((c.req.query('format') ?? '') === 'csv' || (c.req.header('accept') ?? '').startsWith('text/csv')) {
      c.header('Content-Disposition', `attachment; filename="${repository.name.replace(/\//g, '_')}-${artifact.digest.slice(7, 19)}-vulnerabilities.csv"`);
      return c.body(findingsCsv(findings), 200, { 'Content-Type': 'text/csv; charset=utf-8' });
    }
    const q = pageQuery(c, { limit: 100 });
    return c.json({
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
      page: q.page,
      limit: q.limit,
      items: findings.slice(q.offset, q.offset + q.limit).map(findingJson),
    });
  });

  r.get(`${base}/sbom`, async (c) => {
    const { repository, artifact, rep } = await report(c);
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

const issues = (e: z.ZodError) => e.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
const registrationJson = (r: ScannerRegistration, full: boolean) => ({ name: r.name, ...(full ? { url: r.url, created_at: iso(r.createdAt), updated_at: iso(r.updatedAt) } : {}) });

/**
 * External scanner adapters, Harbor's way: system admins register endpoints (`/scanners`) and set the system default;
 * project admins pick one of the registered adapters by name. Nobody else makes Berth call a URL.
 */
export function scannerRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const projectFor = async (c: Ctx) => {
    const project = await c.var.services.projects.get(c.var.principal, c.req.param('project') ?? '');
    await c.var.services.authz.require(c.var.principal, 'project:update', project);
    return project;
  };
  const isAdmin = (c: Ctx) => c.var.principal.kind === 'user' && c.var.principal.isAdmin;

  r.get('/scanners', async (c) => {
    if (c.var.principal.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    const items = await c.var.services.scanners.list();
    return c.json({ items: items.map((x) => registrationJson(x, isAdmin(c))) });
  });
  r.post('/scanners', async (c) => {
    requireAdmin(c);
    const parsed = registerSchema.safeParse(await jsonBody(c));
    if (!parsed.success) throw badRequest(issues(parsed.error));
    const { registration, metadata } = await c.var.services.scanners.register(parsed.data);
    await c.var.services.audit.record(c.var.actor, 'register', 'scanner', registration.name, { url: registration.url });
    return c.json({ ...registrationJson(registration, true), scanner: metadata.scanner }, 201);
  });
  r.delete('/scanners/:name', async (c) => {
    requireAdmin(c);
    await c.var.services.scanners.remove(c.req.param('name'));
    await c.var.services.audit.record(c.var.actor, 'delete', 'scanner', c.req.param('name').slice(0, 64));
    return c.body(null, 204);
  });

  r.get('/system/scanner', async (c) => {
    requireAdmin(c);
    const s = await c.var.services.scanners.picked(null);
    return c.json({ scanner: s?.name ?? null, url: s?.url ?? null });
  });
  // `{scanner: name}` picks a registered adapter; `{url, authorization?}` (the earlier form) registers it as
  // `default` and picks it.
  r.put('/system/scanner', async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c);
    let name: string | null;
    let scanner: unknown = null;
    if ('url' in body) {
      const parsed = legacySchema.safeParse(body);
      if (!parsed.success) throw badRequest(issues(parsed.error));
      const reg = await c.var.services.scanners.register({ name: 'default', ...parsed.data });
      name = reg.registration.name;
      scanner = reg.metadata.scanner;
    } else {
      const parsed = pickSchema.safeParse(body);
      if (!parsed.success) throw badRequest(issues(parsed.error));
      name = parsed.data.scanner;
    }
    const picked = await c.var.services.scanners.pick(null, name);
    await c.var.services.audit.record(c.var.actor, 'update', 'scanner', 'system', { scanner: name });
    return c.json({ scanner: picked?.name ?? null, url: picked?.url ?? null, ...(scanner ? { metadata: scanner } : {}) });
  });
  r.delete('/system/scanner', async (c) => {
    requireAdmin(c);
    await c.var.services.scanners.pick(null, null);
    return c.body(null, 204);
  });

  r.get('/projects/:project/scanner', async (c) => {
    const project = await projectFor(c);
    const own = await c.var.services.scanners.picked(project.id);
    const effective = await c.var.services.scanners.scannerFor(project.id);
    return c.json({ scanner: own?.name ?? null, effective: effective?.name ?? 'built-in' });
  });
  r.put('/projects/:project/scanner', async (c) => {
    const project = await projectFor(c);
    const body = await jsonBody(c);
    if ('url' in body) {
      if (!isAdmin(c)) throw denied('only system admins register scanner endpoints; pick a registered one with {"scanner": "<name>"} (GET /api/v1/scanners)');
      throw badRequest('register the adapter first (POST /api/v1/scanners), then pick it with {"scanner": "<name>"}');
    }
    const parsed = pickSchema.safeParse(body);
    if (!parsed.success) throw badRequest(issues(parsed.error));
    const picked = await c.var.services.scanners.pick(project.id, parsed.data.scanner);
    await c.var.services.audit.record(c.var.actor, 'update', 'scanner', project.name, { scanner: parsed.data.scanner });
    return c.json({ scanner: picked?.name ?? null });
  });
  r.delete('/projects/:project/scanner', async (c) => {
    const project = await projectFor(c);
    await c.var.services.scanners.pick(project.id, null);
    return c.body(null, 204);
  });
  return r;
}

/** POST /system/scan-all and the advisory database. */
export function scanSystemRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.post('/system/scan-all', async (c) => {
    requireAdmin(c);
    const { id } = await c.var.services.jobs.enqueue(SCAN_ALL, { reason: 'manual', by: c.var.actor.name });
    await c.var.services.audit.record(c.var.actor, 'scan_all', 'system', 'artifacts', { job: id });
    return c.json(jobJson((await c.var.services.jobs.get(id))!), 202, { Location: `/api/v1/jobs/${id}` });
  });
  r.get('/vulndb', async (c) => {
    if (c.var.principal.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
    const s = await c.var.services.advisories.status();
    return c.json({ updated_at: iso(s.updatedAt), advisories: s.total, ecosystems: s.ecosystems });
  });
  // Authorization first (no byte of the body is read before), then one upload slot, then the body to a temporary
  // file with the import limit, then the import from that file.
  r.post('/vulndb/import', async (c) => {
    requireAdmin(c);
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const kinds: Record<string, 'json' | 'zip' | 'multipart'> = { 'application/json': 'json', 'application/zip': 'zip', 'application/x-zip-compressed': 'zip', 'multipart/form-data': 'multipart' };
    const kind = kinds[type];
    if (!kind) throw new AppError('UNSUPPORTED', 'send application/json (OSV records), application/zip (OSV files), or a multipart form with "file"');
    const { advisories, uploads, config } = c.var.services;
    const upload = await receiveUpload(c, { tmpDir: path.join(config.dataDir, 'tmp'), maxBytes: VULNDB_IMPORT_LIMIT, slots: uploads, field: kind === 'multipart' ? 'file' : undefined });
    let stats;
    try {
      if (kind === 'zip') stats = await importZipFile(c, upload.path);
      else {
        try {
          stats = await advisories.importFile(upload.path);
        } catch (err) {
          if (err instanceof NotJsonError) throw badRequest(kind === 'json' ? 'malformed JSON' : err.message);
          if (err instanceof AppError) throw err;
          throw badRequest(`not a readable zip: ${(err as Error).message.slice(0, 200)}`);
        }
      }
    } finally {
      upload.dispose();
    }
    await c.var.services.audit.record(c.var.actor, 'import', 'vulndb', 'osv', { imported: stats.imported, updated: stats.updated, withdrawn: stats.withdrawn, invalid: stats.invalid });
    return c.json(stats);
  });
  return r;
}

async function importZipFile(c: Ctx, file: string) {
  try {
    return await c.var.services.advisories.importZipFile(file);
  } catch (err) {
    throw badRequest(`not a readable zip: ${(err as Error).message.slice(0, 200)}`);
  }
}

function requireAdmin(c: Ctx): void {
  const p = c.var.principal;
  if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
  if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins do this');
}
