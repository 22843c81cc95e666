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
    const { id } = await c.var.services.jobs.enqueue(SCAN_IMAGE, { repository: repository.name, digest: artifact.digest, reason: 'manual' }, { uniqueKey: scanKey(artifact.id), releaseKeyOnFinish: true, priority: PRIORITY_PUSH });
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
    return c.body(JSON.stringify(cycloneDx({ name: repository.name, digest: artifact.digest }, rep.os, rep.packages, rep.findings), null, 2), 200, { 'Content-Type': 'application/vnd.cyclonedx+json; version=1.5' });
  });

  return r;
}

const scannerSchema = z
  .object({
    url: z.string().max(1024).refine((u) => /^https?:\/\/[^\s]+$/i.test(u), 'must be an http(s) URL'),
    authorization: z.string().max(4096).optional(),
  })
  .strict();

/** Registers an external scanner adapter (after reading its metadata), or removes it (null body via DELETE). */
async function putScanner(c: Ctx, projectId: number | null) {
  const parsed = scannerSchema.safeParse(await jsonBody(c));
  if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  let meta;
  try {
    meta = await c.var.services.scans.setExternalScanner(projectId, parsed.data);
  } catch (err) {
    throw badRequest(`the scanner adapter at ${parsed.data.url.slice(0, 200)} is not usable: ${(err as Error).message.slice(0, 200)}`);
  }
  await c.var.services.audit.record(c.var.actor, 'update', 'scanner', projectId === null ? 'system' : String(projectId), { url: parsed.data.url });
  return c.json({ url: parsed.data.url, scanner: meta?.scanner ?? null });
}

/** External scanners: system-wide (system admins) and per project (project admins). */
export function scannerRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const projectFor = async (c: Ctx) => {
    const project = await c.var.services.projects.get(c.var.principal, c.req.param('project') ?? '');
    await c.var.services.authz.require(c.var.principal, 'project:update', project);
    return project;
  };
  r.get('/system/scanner', async (c) => {
    requireAdmin(c);
    const s = await c.var.services.scans.externalScanner(null);
    return c.json({ url: s?.url ?? null });
  });
  r.put('/system/scanner', async (c) => {
    requireAdmin(c);
    return putScanner(c, null);
  });
  r.delete('/system/scanner', async (c) => {
    requireAdmin(c);
    await c.var.services.scans.setExternalScanner(null, null);
    return c.body(null, 204);
  });
  r.get('/projects/:project/scanner', async (c) => {
    const project = await projectFor(c);
    const own = await c.var.services.scans.externalScanner(project.id);
    const effective = await c.var.services.scans.scannerFor(project.id);
    return c.json({ url: own?.url ?? null, effective: effective?.url ?? 'built-in' });
  });
  r.put('/projects/:project/scanner', async (c) => putScanner(c, (await projectFor(c)).id));
  r.delete('/projects/:project/scanner', async (c) => {
    await c.var.services.scans.setExternalScanner((await projectFor(c)).id, null);
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
  r.post('/vulndb/import', async (c) => {
    requireAdmin(c);
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    let stats;
    const store = c.var.services.advisories;
    if (type === 'application/json') {
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        throw badRequest('malformed JSON');
      }
      stats = await store.importValues([body]);
    } else if (type === 'application/zip' || type === 'application/x-zip-compressed') {
      stats = await importZip(c, Buffer.from(await c.req.arrayBuffer()));
    } else if (type === 'multipart/form-data') {
      const form = await c.req.parseBody();
      const file = form.file;
      if (!(file instanceof File)) throw badRequest('multipart upload needs a field "file"');
      const buf = Buffer.from(await file.arrayBuffer());
      if (buf[0] === 0x50 && buf[1] === 0x4b) stats = await importZip(c, buf);
      else {
        let body: unknown;
        try {
          body = JSON.parse(buf.toString('utf8'));
        } catch {
          throw badRequest('the file is neither a zip nor JSON');
        }
        stats = await store.importValues([body]);
      }
    } else {
      throw new AppError('UNSUPPORTED', 'send application/json (OSV records), application/zip (OSV files), or a multipart form with "file"');
    }
    await c.var.services.audit.record(c.var.actor, 'import', 'vulndb', 'osv', { imported: stats.imported, updated: stats.updated, withdrawn: stats.withdrawn, invalid: stats.invalid });
    return c.json(stats);
  });
  return r;
}

async function importZip(c: Ctx, buf: Buffer) {
  try {
    return await c.var.services.advisories.importZip(buf);
  } catch (err) {
    throw badRequest(`not a readable zip: ${(err as Error).message.slice(0, 200)}`);
  }
}

function requireAdmin(c: Ctx): void {
  const p = c.var.principal;
  if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
  if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins do this');
}
