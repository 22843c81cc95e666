import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { RegistryHandle } from '../context.js';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import type { Logger } from '../log.js';
import { INDEX_TYPES } from '../registry/constants.js';
import { isScannable, type ArtifactType } from '../registry/artifact-type.js';
import type { AdvisoryStore } from '../scanner/advisory-store.js';
import type { OsInfo, Package } from '../scanner/inventory.js';
import { INVENTORY_VERSION, mergeLayers, readLayer, type LayerInventory } from '../scanner/layer-walker.js';
import { matchInventory, type Finding } from '../scanner/matcher.js';
import { SEVERITIES, type Severity } from '../scanner/severity.js';
import { ScannerAdapterClient, type AdapterMetadata } from '../scanner/adapter-client.js';
import { SHA256_DIGEST as SHA256 } from '../registry/reference.js';
import { blobDataPath } from '../registry/storage.js';

export const SCANNER_NAME = 'berth-osv';
export const SCANNER_VERSION = `${SCANNER_NAME}/1`;

export interface ScanProgress {
  signal: AbortSignal;
  progress(percent: number, text?: string): Promise<void>;
  log(message: string): Promise<void>;
}

export interface ScanReport {
  artifactId: number;
  /** `not_applicable`: the artifact's type is not something the scanner reads (a chart, a signature, an SBOM…) */
  status: 'running' | 'success' | 'error' | 'not_applicable';
  jobId: number | null;
  scanner: string;
  dbUpdatedAt: number | null;
  startedAt: number;
  finishedAt: number | null;
  os: string | null;
  counts: Record<Severity, number>;
  fixable: number;
  findings: Finding[];
  packages: Package[];
  problems: string[];
  error: string | null;
}


const parseList = <T>(s: string): T[] => {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return [];
  }
};

/**
 * Scans artifacts: each layer is streamed once and its inventory cached by digest, so a rescan after an advisory
 * update only matches. Reads layers from the registry's storage when core shares it (managed mode), else through
 * the registry API with a pull token core mints for itself.
 */
export interface ExternalScanner {
  url: string;
  authorization?: string;
}

export class ScanService {
  constructor(
    private readonly db: DB,
    private readonly registry: RegistryHandle,
    private readonly store: AdvisoryStore,
    private readonly log: Logger,
    /** a short-lived pull token for an external scanner adapter to read one repository */
    private readonly mintPull: (repository: string) => string = () => '',
  ) {}

  // --- external scanners (Harbor pluggable scanner API), system-wide or per project ---

  private settingName = (projectId: number | null) => (projectId === null ? 'scanner:system' : `scanner:project:${projectId}`);

  async externalScanner(projectId: number | null): Promise<ExternalScanner | null> {
    const r = await this.db.selectFrom('system_settings').select('value').where('name', '=', this.settingName(projectId)).executeTakeFirst();
    if (!r) return null;
    try {
      const v = JSON.parse(r.value) as ExternalScanner | null;
      return v && typeof v.url === 'string' ? v : null;
    } catch {
      return null;
    }
  }

  /** The adapter that scans a project's images: the project's own, else the system's, else none (built-in). */
  async scannerFor(projectId: number): Promise<ExternalScanner | null> {
    return (await this.externalScanner(projectId)) ?? (await this.externalScanner(null));
  }

  /** Registers (after checking its metadata) or removes an adapter. */
  async setExternalScanner(projectId: number | null, s: ExternalScanner | null): Promise<AdapterMetadata | null> {
    let meta: AdapterMetadata | null = null;
    if (s) {
      meta = await new ScannerAdapterClient(s).metadata();
      const consumes = meta.capabilities.flatMap((c) => c.consumes_mime_types);
      if (!consumes.some((m) => m.includes('oci.image.manifest') || m.includes('distribution.manifest.v2'))) throw new Error('the adapter does not scan OCI or Docker image manifests');
    }
    const name = this.settingName(projectId);
    await this.db.deleteFrom('system_settings').where('name', '=', name).execute();
    if (s) await this.db.insertInto('system_settings').values({ name, value: JSON.stringify(s), updated_at: Date.now() }).execute();
    return meta;
  }

  /** Marks the artifact's report as running (the UI shows "scanning"); keeps the previous findings until done. */
  async markRunning(artifactId: number, jobId: number | null): Promise<void> {
    const now = Date.now();
    const res = await this.db.updateTable('scan_reports').set({ status: 'running', job_id: jobId, started_at: now, error: null }).where('artifact_id', '=', artifactId).executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) return;
    try {
      await this.db
        .insertInto('scan_reports')
        .values({ artifact_id: artifactId, status: 'running', job_id: jobId, scanner: SCANNER_VERSION, db_updated_at: null, started_at: now, finished_at: null, os: null, critical: 0, high: 0, medium: 0, low: 0, unknown: 0, fixable: 0, findings: '[]', packages: '[]', problems: '[]', error: null })
        .execute();
    } catch {
      await this.db.updateTable('scan_reports').set({ status: 'running', job_id: jobId, started_at: now }).where('artifact_id', '=', artifactId).execute();
    }
  }

  async markFailed(artifactId: number, error: string): Promise<void> {
    await this.db.updateTable('scan_reports').set({ status: 'error', error: error.slice(0, 2000), finished_at: Date.now() }).where('artifact_id', '=', artifactId).execute();
  }

  /** Scans one artifact (an image, or an index through its platform images) and stores its report. */
  async scan(repository: string, digest: string, jobId: number | null, p: ScanProgress): Promise<ScanReport> {
    const repo = await art.findRepository(this.db, repository);
    const record = repo ? await art.findArtifact(this.db, Number(repo.id), digest) : undefined;
    if (!repo || !record) throw new ArtifactGone(`${repository}@${digest} is not (or no longer) in the registry`);
    const artifactId = record.id;
    if (!isScannable(record.type)) return this.notApplicable(artifactId, record.type, jobId, p);
    await this.markRunning(artifactId, jobId);
    const external = await this.scannerFor(Number(repo.project_id));
    if (external) return this.scanExternal(external, repository, digest, artifactId, p);
    const dbUpdatedAt = await this.store.updatedAt();
    const m = await this.registry.client.manifest(repository, digest);
    if (!m) throw new ArtifactGone(`${repository}@${digest} is gone from the registry`);
    const doc = JSON.parse(m.body.toString('utf8')) as { mediaType?: string; manifests?: { digest?: string; platform?: { os?: string; architecture?: string } }[]; layers?: { digest?: string; mediaType?: string }[] };
    const images: { digest: string; layers: string[] }[] = [];
    const layersOf = (d: typeof doc) => (d.layers ?? []).map((l) => l.digest).filter((x): x is string => typeof x === 'string' && SHA256.test(x));
    if (INDEX_TYPES.has(doc.mediaType ?? m.mediaType)) {
      for (const c of (doc.manifests ?? []).slice(0, 64)) {
        if (!c.digest || !SHA256.test(c.digest) || c.platform?.os === 'unknown') continue; // attestations are not images
        const childRecord = await art.findArtifact(this.db, Number(repo.id), c.digest);
        if (childRecord && !isScannable(childRecord.type)) continue; // SBOMs, signatures, charts listed in an index
        const child = await this.registry.client.manifest(repository, c.digest);
        if (child) images.push({ digest: c.digest, layers: layersOf(JSON.parse(child.body.toString('utf8')) as typeof doc) });
      }
    } else {
      images.push({ digest, layers: layersOf(doc) });
    }
    if (!images.length) return this.notApplicable(artifactId, 'index', jobId, p, 'the index lists no image the scanner reads');
    const total = images.reduce((n, i) => n + i.layers.length, 0) || 1;
    let done = 0;
    const findings: Finding[] = [];
    const packages: Package[] = [];
    const problems: string[] = [];
    let os: OsInfo | null = null;
    for (const img of images) {
      const layers: LayerInventory[] = [];
      for (const layer of img.layers) {
        p.signal.throwIfAborted();
        layers.push(await this.layerInventory(repository, layer, p));
        done++;
        await p.progress((done / total) * 90, `layer ${done} of ${total}`);
      }
      const inv = mergeLayers(layers);
      os ??= inv.os;
      problems.push(...inv.problems);
      packages.push(...inv.packages);
      findings.push(...(await matchInventory(this.store, inv)));
    }
    const unique = dedupe(findings);
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
    for (const f of unique) counts[f.severity]++;
    const fixable = unique.filter((f) => f.fixedVersion).length;
    const now = Date.now();
    const osText = os ? `${os.prettyName ?? `${os.id} ${os.versionId}`}`.slice(0, 128) : null;
    await this.db
      .updateTable('scan_reports')
      .set({
        status: 'success',
        scanner: SCANNER_VERSION,
        db_updated_at: dbUpdatedAt,
        finished_at: now,
        os: osText,
        critical: counts.critical,
        high: counts.high,
        medium: counts.medium,
        low: counts.low,
        unknown: counts.unknown,
        fixable,
        findings: JSON.stringify(unique),
        packages: JSON.stringify(packages),
        problems: JSON.stringify([...new Set(problems)].slice(0, 100)),
        error: null,
      })
      .where('artifact_id', '=', artifactId)
      .execute();
    if (problems.length) this.log.info({ repository, digest, problems: problems.length }, 'scan finished with parts it could not read');
    await p.log(`${packages.length} packages, ${unique.length} findings (${SEVERITIES.map((s) => `${counts[s]} ${s}`).join(', ')})`);
    await p.progress(100, 'done');
    return (await this.report(artifactId))!;
  }

  /**
   * Records that this artifact is not scanned, and why: a report with status `not_applicable`, no findings and the
   * reason in `problems`, so the UI says "not scannable" and never shows a clean result for bytes nobody read.
   */
  private async notApplicable(artifactId: number, type: ArtifactType, jobId: number | null, p: ScanProgress, reason?: string): Promise<ScanReport> {
    const now = Date.now();
    const why = reason ?? `${type} artifacts are not scanned: Berth's scanner reads container image layers only`;
    const values = {
      status: 'not_applicable',
      job_id: jobId,
      scanner: SCANNER_VERSION,
      db_updated_at: null,
      started_at: now,
      finished_at: now,
      os: null,
      critical: 0,
      high: 0,
      medium: 0,
      low: 0,
      unknown: 0,
      fixable: 0,
      findings: '[]',
      packages: '[]',
      problems: JSON.stringify([why]),
      error: null,
    };
    const res = await this.db.updateTable('scan_reports').set(values).where('artifact_id', '=', artifactId).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      try {
        await this.db.insertInto('scan_reports').values({ artifact_id: artifactId, ...values }).execute();
      } catch {
        await this.db.updateTable('scan_reports').set(values).where('artifact_id', '=', artifactId).execute();
      }
    }
    await p.log(why);
    await p.progress(100, 'not scannable');
    return (await this.report(artifactId))!;
  }

  /** Scans through an external adapter: it pulls from the registry with a token Berth minted for it. */
  private async scanExternal(s: ExternalScanner, repository: string, digest: string, artifactId: number, p: ScanProgress): Promise<ScanReport> {
    const client = new ScannerAdapterClient(s);
    const meta = await client.metadata(p.signal);
    const row = await this.db.selectFrom('artifacts').select('media_type').where('id', '=', artifactId).executeTakeFirstOrThrow();
    const id = await client.scan({ registryUrl: this.registry.url(), authorization: `Bearer ${this.mintPull(repository)}`, repository, digest, mimeType: row.media_type }, p.signal);
    await p.log(`submitted to ${meta.scanner.name} ${meta.scanner.version ?? ''} as ${id}`);
    await p.progress(20, `waiting for ${meta.scanner.name}`);
    const findings = dedupe(await client.report(id, { signal: p.signal, onWait: (secs) => void p.log(`report not ready; the adapter asks to retry in ${secs} s`) }));
    const counts = Object.fromEntries(SEVERITIES.map((x) => [x, 0])) as Record<Severity, number>;
    for (const f of findings) counts[f.severity]++;
    await this.db
      .updateTable('scan_reports')
      .set({
        status: 'success',
        scanner: `${meta.scanner.name}/${meta.scanner.version ?? '?'}`.slice(0, 64),
        db_updated_at: null,
        finished_at: Date.now(),
        os: null,
        critical: counts.critical,
        high: counts.high,
        medium: counts.medium,
        low: counts.low,
        unknown: counts.unknown,
        fixable: findings.filter((f) => f.fixedVersion).length,
        findings: JSON.stringify(findings),
        packages: '[]',
        problems: JSON.stringify([`scanned by the external adapter ${meta.scanner.name}: it reports findings, not a package inventory (no SBOM components)`]),
        error: null,
      })
      .where('artifact_id', '=', artifactId)
      .execute();
    await p.progress(100, 'done');
    return (await this.report(artifactId))!;
  }

  /** A layer's inventory: from the cache when this scanner version made it, else read once and cached. */
  private async layerInventory(repository: string, digest: string, p: ScanProgress): Promise<LayerInventory> {
    const cached = await this.db.selectFrom('layer_inventories').select(['version', 'data']).where('digest', '=', digest).executeTakeFirst();
    if (cached && Number(cached.version) === INVENTORY_VERSION) return JSON.parse(cached.data) as LayerInventory;
    const started = Date.now();
    const stream = await this.openBlob(repository, digest, p.signal);
    const inv = await readLayer(stream, undefined, p.signal);
    await p.log(`read layer ${digest.slice(7, 19)}: ${inv.entries} entries, ${Math.round(inv.bytes / 1024)} KiB in ${Date.now() - started} ms`);
    const data = JSON.stringify(inv);
    const res = await this.db.updateTable('layer_inventories').set({ version: INVENTORY_VERSION, data, created_at: Date.now() }).where('digest', '=', digest).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      try {
        await this.db.insertInto('layer_inventories').values({ digest, version: INVENTORY_VERSION, data, created_at: Date.now() }).execute();
      } catch {
        /* a concurrent scan cached it first */
      }
    }
    return inv;
  }

  private async openBlob(repository: string, digest: string, signal: AbortSignal): Promise<Readable> {
    const managed = this.registry.managed;
    if (managed) {
      const file = blobDataPath(managed.storageDir, digest);
      try {
        await fs.promises.access(file);
        return fs.createReadStream(file, { highWaterMark: 1024 * 1024, signal });
      } catch {
        /* not there (yet): ask the registry */
      }
    }
    return this.registry.client.blobStream(repository, digest, signal);
  }

  async report(artifactId: number): Promise<ScanReport | undefined> {
    const r = await this.db.selectFrom('scan_reports').selectAll().where('artifact_id', '=', artifactId).executeTakeFirst();
    if (!r) return undefined;
    return {
      artifactId: Number(r.artifact_id),
      status: r.status as ScanReport['status'],
      jobId: r.job_id === null ? null : Number(r.job_id),
      scanner: r.scanner,
      dbUpdatedAt: r.db_updated_at === null ? null : Number(r.db_updated_at),
      startedAt: Number(r.started_at),
      finishedAt: r.finished_at === null ? null : Number(r.finished_at),
      os: r.os,
      counts: { critical: Number(r.critical), high: Number(r.high), medium: Number(r.medium), low: Number(r.low), unknown: Number(r.unknown) },
      fixable: Number(r.fixable),
      findings: parseList<Finding>(r.findings),
      packages: parseList<Package>(r.packages),
      problems: parseList<string>(r.problems),
      error: r.error,
    };
  }

  /** Severity totals over a project's latest reports (the project chart). */
  projectTotals(projectId: number): Promise<{ counts: Record<Severity, number>; scanned: number; artifacts: number }> {
    return projectSeverityTotals(this.db, projectId);
  }

  /** Severity counts of the latest reports, per artifact id (for lists and charts). */
  async summaries(artifactIds: number[]): Promise<Map<number, { status: string; counts: Record<Severity, number>; fixable: number; finishedAt: number | null }>> {
    const out = new Map<number, { status: string; counts: Record<Severity, number>; fixable: number; finishedAt: number | null }>();
    if (!artifactIds.length) return out;
    const rows = await this.db
      .selectFrom('scan_reports')
      .select(['artifact_id', 'status', 'critical', 'high', 'medium', 'low', 'unknown', 'fixable', 'finished_at'])
      .where('artifact_id', 'in', artifactIds)
      .execute();
    for (const r of rows) {
      out.set(Number(r.artifact_id), {
        status: r.status,
        counts: { critical: Number(r.critical), high: Number(r.high), medium: Number(r.medium), low: Number(r.low), unknown: Number(r.unknown) },
        fixable: Number(r.fixable),
        finishedAt: r.finished_at === null ? null : Number(r.finished_at),
      });
    }
    return out;
  }
}

/** Severity totals over a project's latest reports, and how many of its artifacts have one. */
export async function projectSeverityTotals(db: DB, projectId: number): Promise<{ counts: Record<Severity, number>; scanned: number; artifacts: number }> {
  const sums = await db
    .selectFrom('scan_reports as s')
    .innerJoin('artifacts as a', 'a.id', 's.artifact_id')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .where('r.project_id', '=', projectId)
    // A report being refreshed still counts with its last findings; one saying "not scannable" counts as none.
    .where('s.status', 'not in', ['error', 'not_applicable'])
    .where('s.finished_at', 'is not', null)
    .select((e) => [
      e.fn.sum<number>('s.critical').as('critical'),
      e.fn.sum<number>('s.high').as('high'),
      e.fn.sum<number>('s.medium').as('medium'),
      e.fn.sum<number>('s.low').as('low'),
      e.fn.sum<number>('s.unknown').as('unknown'),
      e.fn.countAll<number>().as('scanned'),
    ])
    .executeTakeFirstOrThrow();
  const { n } = await db
    .selectFrom('artifacts as a')
    .innerJoin('repositories as r', 'r.id', 'a.repository_id')
    .where('r.project_id', '=', projectId)
    .select((e) => e.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const num = (v: unknown) => Number(v ?? 0);
  return { counts: { critical: num(sums.critical), high: num(sums.high), medium: num(sums.medium), low: num(sums.low), unknown: num(sums.unknown) }, scanned: num(sums.scanned), artifacts: Number(n) };
}

/** The artifact to scan no longer exists: retrying cannot help. */
export class ArtifactGone extends Error {}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.advisoryId}|${f.type}|${f.package}|${f.installedVersion}|${f.path}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
