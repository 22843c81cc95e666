import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { replaceReportFindings } from '../db/repos/findings.js';
import type { JobLogKey, JobLogParams, JobProgressKey } from '../i18n/job-log.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/client.js';
import { IMAGE_CONFIGS, INDEX_TYPES } from '../registry/constants.js';
import { isScannable, type ArtifactType, type ManifestDoc } from '../registry/artifact-type.js';
import type { AdvisoryStore } from '../scanner/advisory-store.js';
import type { OsInfo, Package } from '../scanner/inventory.js';
import { DEFAULT_LIMITS, INVENTORY_VERSION, mergeLayers, readLayer, type LayerInventory } from '../scanner/layer-walker.js';
import { DEFAULT_SIF_LIMITS, readSif } from '../scanner/sif-reader.js';
import { coverageGaps, matchInventory, mergeAliases, resolveOsEcosystems, sortFindings, type Finding } from '../scanner/matcher.js';
import { SEVERITIES, type Severity } from '../scanner/severity.js';
import type { ExternalScanner, ScannerRegistry } from './scanner-registry.js';
import { SHA256_DIGEST as SHA256 } from '../registry/reference.js';
import { blobDataPath } from '../registry/storage.js';
import * as reports from '../db/repos/scan-reports.js';
import { severityTotals, type Completeness, type ReportGap, type ScanReport, type ScanSummary } from '../db/repos/scan-reports.js';
import type { Visibility } from '../db/repos/members.js';

export { COMPLETENESS, type Completeness, type ReportGap, type ScanReport, type ScanSummary } from '../db/repos/scan-reports.js';

export const SCANNER_NAME = 'berth-osv';
export const SCANNER_VERSION = `${SCANNER_NAME}/1`;

export interface ScanProgress {
  signal: AbortSignal;
  /** a `jobprogress.*` key and its parameters */
  progress(percent: number, key?: JobProgressKey, params?: JobLogParams): Promise<void>;
  /** a job log line: a `joblog.*` key and its parameters */
  log(key: JobLogKey, params?: JobLogParams): Promise<void>;
}

/** Budgets of the built-in scanner, per layer and per artifact. */
export interface ScanLimits {
  /** uncompressed bytes per compressed byte of a layer */
  maxRatio: number;
  /** uncompressed bytes read per artifact (all its layers, all platforms of an index) */
  maxImageBytes: number;
}

export const DEFAULT_SCAN_LIMITS: ScanLimits = { maxRatio: 100, maxImageBytes: 16 * 1024 ** 3 };

/**
 * Scans artifacts: each layer is streamed once and its inventory cached by digest, so a rescan after an advisory
 * update only matches. Reads layers from the registry's storage when core shares it (managed mode), else through
 * the registry API with a pull token core mints for itself.
 */
export class ScanService {
  constructor(
    private readonly db: DB,
    private readonly registry: RegistryClient,
    /** the managed registry's storage root, which core reads layers from directly; null: through the API */
    private readonly sharedStorage: () => string | null,
    private readonly store: AdvisoryStore,
    private readonly log: Logger,
    /** a short-lived pull token for an external scanner adapter to read one repository */
    private readonly mintPull: (repository: string) => string = () => '',
    private readonly limits: ScanLimits = DEFAULT_SCAN_LIMITS,
    /** registered external scanner adapters (none: always the built-in scanner) */
    private readonly scanners?: ScannerRegistry,
  ) {}

  /** The adapter that scans a project's images: the project's pick, else the system default, else none (built-in). */
  async scannerFor(projectId: number): Promise<ExternalScanner | null> {
    return this.scanners ? this.scanners.scannerFor(projectId) : null;
  }

  /** Marks the artifact's report as running (the UI shows "scanning"); keeps the previous findings until done. */
  markRunning(artifactId: number, jobId: number | null): Promise<void> {
    return reports.markReportRunning(this.db, artifactId, { jobId, startedAt: Date.now(), scanner: SCANNER_VERSION });
  }

  markFailed(artifactId: number, error: string): Promise<void> {
    return reports.markReportFailed(this.db, artifactId, error, Date.now());
  }

  /** Scans one artifact (an image, or an index through its platform images) and stores its report. */
  async scan(repository: string, digest: string, jobId: number | null, p: ScanProgress): Promise<ScanReport> {
    const repo = await art.findRepository(this.db, repository);
    const record = repo ? await art.findArtifact(this.db, repo.id, digest) : undefined;
    if (!repo || !record) throw new ArtifactGone(`${repository}@${digest} is not (or no longer) in the registry`);
    const artifactId = record.id;
    if (!isScannable(record.type)) return this.notApplicable(artifactId, record.type, jobId, p);
    await this.markRunning(artifactId, jobId);
    // external adapters (Harbor's scanner API) pull images; a SIF is read by the built-in scanner
    const external = record.type === 'sif' ? null : await this.scannerFor(repo.projectId);
    if (external) return this.scanExternal(external, repository, digest, artifactId, record.mediaType, p);
    const dbUpdatedAt = await this.store.updatedAt();
    const m = await this.registry.manifest(repository, digest);
    if (!m) throw new ArtifactGone(`${repository}@${digest} is gone from the registry`);
    const doc = JSON.parse(m.body.toString('utf8')) as ManifestDoc;
    /** `sif`: the one layer is a SIF file, read as its own image (sif-reader.ts), not a tar layer */
    const images: { digest: string; layers: { digest: string; size?: number }[]; sif?: boolean }[] = [];
    const layersOf = (d: ManifestDoc) =>
      (d.layers ?? [])
        .filter((l): l is { digest: string; size?: number } => typeof l.digest === 'string' && SHA256.test(l.digest))
        .map((l) => ({ digest: l.digest, size: typeof l.size === 'number' && l.size >= 0 ? l.size : undefined }));
    const isImage = (d: ManifestDoc) => !d.artifactType && (!d.config?.mediaType || IMAGE_CONFIGS.has(d.config.mediaType));
    if (record.type === 'sif') {
      // `apptainer push oras://` writes one SIF layer; each SIF layer is a whole container file system
      const sifs = layersOf({ layers: (doc.layers ?? []).filter((l) => typeof l.mediaType === 'string' && SIF_LAYER.test(l.mediaType)) }).slice(0, 8);
      if (!sifs.length) return this.notApplicable(artifactId, 'sif', jobId, p, 'the SIF artifact has no SIF layer (application/vnd.sylabs.sif.layer.v1.sif): nothing to scan');
      for (const l of sifs) images.push({ digest, layers: [l], sif: true });
    } else if (INDEX_TYPES.has(doc.mediaType ?? m.mediaType)) {
      for (const c of (doc.manifests ?? []).slice(0, 64)) {
        if (!c.digest || !SHA256.test(c.digest) || c.platform?.os === 'unknown') continue; // attestations are not images
        const childRecord = await art.findArtifact(this.db, repo.id, c.digest);
        if (childRecord && !isScannable(childRecord.type)) continue; // SBOMs, signatures, charts listed in an index
        const child = await this.registry.manifest(repository, c.digest);
        if (!child) continue;
        const cd = JSON.parse(child.body.toString('utf8')) as ManifestDoc;
        if (isImage(cd)) images.push({ digest: c.digest, layers: layersOf(cd) });
      }
    } else if (isImage(doc)) {
      images.push({ digest, layers: layersOf(doc) });
    }
    if (!images.length) return this.notApplicable(artifactId, 'index', jobId, p, 'the index lists no image the scanner reads');
    const total = images.reduce((n, i) => n + i.layers.length, 0) || 1;
    let done = 0;
    const findings: Finding[] = [];
    const packages: Package[] = [];
    const problems: string[] = [];
    const gaps: ReportGap[] = [];
    let os: OsInfo | null = null;
    const budget = { left: this.limits.maxImageBytes };
    const notApplicable: string[] = [];
    let applicable = 0;
    for (const img of images) {
      const layers: LayerInventory[] = [];
      for (const layer of img.layers) {
        p.signal.throwIfAborted();
        layers.push(img.sif ? await this.sifInventory(repository, layer, p, budget) : await this.layerInventory(repository, layer, p, budget));
        done++;
        await p.progress((done / total) * 90, img.sif ? 'sif' : 'layer', { done, total });
      }
      const na = img.sif ? (layers[0] as SifCached).notApplicable : undefined;
      if (na) {
        notApplicable.push(na);
        continue;
      }
      applicable++;
      const inv = mergeLayers(
        layers,
        img.layers.map((l) => l.digest),
      );
      os ??= inv.os;
      const osMatch = await resolveOsEcosystems(this.store, inv.os);
      if (osMatch.note) problems.push(osMatch.note);
      problems.push(...inv.problems);
      packages.push(...inv.packages);
      gaps.push(...inv.gaps, ...(await coverageGaps(this.store, inv, osMatch)));
      findings.push(...(await matchInventory(this.store, inv, osMatch)));
    }
    if (!applicable) return this.notApplicable(artifactId, 'sif', jobId, p, notApplicable[0]);
    const unique = dedupe(findings);
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
    for (const f of unique) counts[f.severity]++;
    const fixable = unique.filter((f) => f.fixedVersion).length;
    const now = Date.now();
    const osText = os ? (os.prettyName ?? `${os.id} ${os.versionId || os.codename || ''}`.trim()).slice(0, 128) : null;
    const gapList = dedupeGaps(gaps);
    const completeness: Completeness = !images.length ? 'not_applicable' : gapList.length ? 'incomplete' : 'complete';
    if (!images.length) problems.push('not an image (no image manifest with an image config): nothing to scan');
    await reports.saveReportResult(this.db, artifactId, {
      scanner: SCANNER_VERSION,
      dbUpdatedAt,
      finishedAt: now,
      os: osText,
      counts,
      fixable,
      findings: unique,
      packages,
      problems: [...new Set(problems)].slice(0, 100),
      completeness,
      gaps: gapList.slice(0, 200),
    });
    await replaceReportFindings(this.db, artifactId, unique);
    if (gapList.length) this.log.info({ repository, digest, gaps: gapList.length }, 'scan finished incomplete: parts could not be read or judged');
    await p.log(gapList.length ? 'scan_done_gaps' : 'scan_done', { packages: packages.length, findings: unique.length, ...counts, completeness, gaps: gapList.length });
    await p.progress(100, 'done');
    return (await this.report(artifactId))!;
  }

  /**
   * Records that this artifact is not scanned, and why: a finished report with completeness `not_applicable`, no
   * findings and the reason in `problems`, so the UI says "not scannable" and never shows a clean result for bytes
   * nobody read.
   */
  private async notApplicable(artifactId: number, type: ArtifactType, jobId: number | null, p: ScanProgress, reason?: string): Promise<ScanReport> {
    const now = Date.now();
    const why = reason ?? `${type} artifacts are not scanned: Berth's scanner reads container images and SIF files only`;
    const zero = Object.fromEntries(SEVERITIES.map((x) => [x, 0])) as Record<Severity, number>;
    await reports.upsertReportResult(this.db, artifactId, {
      jobId,
      startedAt: now,
      scanner: SCANNER_VERSION,
      dbUpdatedAt: null,
      finishedAt: now,
      os: null,
      counts: zero,
      fixable: 0,
      findings: [],
      packages: [],
      problems: [why],
      completeness: 'not_applicable',
      gaps: [],
    });
    // Findings an earlier scan indexed no longer describe it: the hub's search must not list a not-scannable artifact.
    await replaceReportFindings(this.db, artifactId, []);
    await (reason ? p.log('scan_not_applicable_reason', { reason }) : p.log('scan_not_applicable_type', { type }));
    await p.progress(100, 'not_scannable');
    return (await this.report(artifactId))!;
  }

  /** Scans through an external adapter: it pulls from the registry with a token Berth minted for it. */
  private async scanExternal(s: ExternalScanner, repository: string, digest: string, artifactId: number, mimeType: string, p: ScanProgress): Promise<ScanReport> {
    const client = this.scanners!.client(s);
    const meta = await client.metadata(p.signal);
    const id = await client.scan({ registryUrl: this.registry.url(), authorization: `Bearer ${this.mintPull(repository)}`, repository, digest, mimeType }, p.signal);
    await p.log('scan_submitted', { scanner: `${meta.scanner.name} ${meta.scanner.version ?? ''}`.trim(), id });
    await p.progress(20, 'waiting_for', { scanner: meta.scanner.name });
    const findings = sortFindings(mergeAliases(dedupe(await client.report(id, { signal: p.signal, onWait: (secs) => void p.log('scan_report_not_ready', { seconds: secs }) }))));
    const counts = Object.fromEntries(SEVERITIES.map((x) => [x, 0])) as Record<Severity, number>;
    for (const f of findings) counts[f.severity]++;
    await reports.saveReportResult(this.db, artifactId, {
      scanner: `${meta.scanner.name}/${meta.scanner.version ?? '?'}`.slice(0, 64),
      dbUpdatedAt: null,
      finishedAt: Date.now(),
      os: null,
      counts,
      fixable: findings.filter((f) => f.fixedVersion).length,
      findings,
      packages: [],
      problems: [`scanned by the external adapter ${meta.scanner.name}: it reports findings, not a package inventory (no SBOM components)`],
      // the adapter answered for the whole artifact; what it could not read, it does not say
      completeness: 'complete',
      gaps: [],
    });
    await replaceReportFindings(this.db, artifactId, findings);
    await p.progress(100, 'done');
    return (await this.report(artifactId))!;
  }

  /**
   * A layer's inventory: from the cache when this scanner version made it, else read once (within what is left of
   * the artifact's byte budget) and cached. A layer cut short by the artifact's budget is not cached: alone, or in
   * another image, it may fit.
   */
  private async layerInventory(repository: string, layer: { digest: string; size?: number }, p: ScanProgress, budget: { left: number }): Promise<LayerInventory> {
    const digest = layer.digest;
    const cached = await reports.findLayerInventory(this.db, digest, INVENTORY_VERSION);
    if (cached) return cached;
    const started = Date.now();
    const maxBytes = Math.max(0, Math.min(DEFAULT_LIMITS.maxBytes, budget.left));
    if (maxBytes === 0) {
      const reason = `not read: the artifact's scan budget of ${this.limits.maxImageBytes} uncompressed bytes is spent`;
      return { files: {}, removed: [], opaque: [], problems: [reason], gaps: [{ path: null, reason }], entries: 0, bytes: 0, compressedBytes: 0 };
    }
    const stream = await this.openBlob(repository, digest, p.signal);
    const inv = await readLayer(stream, { maxBytes, maxRatio: this.limits.maxRatio, compressedSize: layer.size }, p.signal);
    budget.left -= inv.bytes;
    await p.log(inv.gaps.length ? 'scan_layer_read_gaps' : 'scan_layer_read', {
      layer: digest.slice(7, 19),
      entries: inv.entries,
      kib: Math.round(inv.bytes / 1024),
      ms: Date.now() - started,
      gaps: inv.gaps.length,
    });
    const cutByBudget = maxBytes < DEFAULT_LIMITS.maxBytes && inv.bytes > maxBytes;
    // a layer that could not be read to its end for a passing reason (the registry went away) is read again next time
    const transient = inv.gaps.some((g) => g.path === null && g.reason.startsWith('layer could not be read to the end'));
    if (cutByBudget || transient) return inv;
    await reports.saveLayerInventory(this.db, digest, INVENTORY_VERSION, inv, Date.now());
    return inv;
  }

  /**
   * A SIF layer's inventory (sif-reader.ts): from the cache (keyed `sif:<digest>`: the same bytes read as a tar
   * layer give another inventory), else read from the blob file (managed mode) or a private temporary copy.
   * `notApplicable` set: the SIF holds no container file system.
   */
  private async sifInventory(repository: string, layer: { digest: string; size?: number }, p: ScanProgress, budget: { left: number }): Promise<SifCached> {
    const key = `sif:${layer.digest}`;
    const cached = await reports.findLayerInventory(this.db, key, INVENTORY_VERSION);
    if (cached) return cached as SifCached;
    const started = Date.now();
    const maxBytes = Math.max(0, Math.min(DEFAULT_SIF_LIMITS.maxBytes, budget.left));
    const gapOnly = (reason: string): SifCached => ({ files: {}, removed: [], opaque: [], problems: [reason], gaps: [{ path: null, reason }], entries: 0, bytes: 0, compressedBytes: 0 });
    if (maxBytes === 0) return gapOnly(`not read: the artifact's scan budget of ${this.limits.maxImageBytes} uncompressed bytes is spent`);
    const local = await this.sifFile(repository, layer, p.signal);
    if ('error' in local) return gapOnly(local.error);
    let out: SifCached;
    try {
      const r = await readSif(local.path, { maxBytes }, p.signal);
      out = r.applicable ? r.inventory : { ...r.inventory, notApplicable: r.reason };
    } finally {
      await local.cleanup();
    }
    budget.left -= out.bytes;
    await p.log(out.gaps.length ? 'scan_sif_read_gaps' : 'scan_sif_read', {
      layer: layer.digest.slice(7, 19),
      entries: out.entries,
      kib: Math.round(out.bytes / 1024),
      ms: Date.now() - started,
      gaps: out.gaps.length,
    });
    // a missing unsquashfs, a timeout or a budget cut are not the file's fault: read again next time (alone, or with
    // more budget left, it may be read in full)
    const transient = out.gaps.some((g) => /not installed|took longer|ended by signal|unsquashfs failed|budget|capped after/.test(g.reason));
    if (transient) return out;
    await reports.saveLayerInventory(this.db, key, INVENTORY_VERSION, out, Date.now());
    return out;
  }

  /**
   * A file holding the SIF blob: the registry's own blob file when core shares its storage, else a private temporary
   * copy streamed from the registry (unsquashfs needs random access), refused past the artifact's byte budget.
   */
  private async sifFile(repository: string, layer: { digest: string; size?: number }, signal: AbortSignal): Promise<{ path: string; cleanup: () => Promise<void> } | { error: string }> {
    const storage = this.sharedStorage();
    if (storage) {
      const file = blobDataPath(storage, layer.digest);
      try {
        await fs.promises.access(file);
        return { path: file, cleanup: async () => undefined };
      } catch {
        /* not there (yet): ask the registry */
      }
    }
    const cap = this.limits.maxImageBytes;
    if (layer.size !== undefined && layer.size > cap) return { error: `the SIF file is ${layer.size} bytes, over the artifact's scan budget of ${cap} bytes: not read` };
    const dir = await fs.promises.mkdtemp(join(os.tmpdir(), 'berth-sifblob-'));
    const cleanup = () => fs.promises.rm(dir, { recursive: true, force: true });
    const path = join(dir, 'image.sif');
    try {
      let n = 0;
      const limit = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          n += chunk.length;
          cb(n > cap ? new Error(`the SIF file is over the artifact's scan budget of ${cap} bytes`) : null, chunk);
        },
      });
      await pipeline(await this.registry.blobStream(repository, layer.digest, signal), limit, fs.createWriteStream(path, { mode: 0o600 }), { signal });
      return { path, cleanup };
    } catch (err) {
      await cleanup();
      if (signal.aborted) throw err;
      return { error: `the SIF file could not be fetched from the registry: ${(err as Error).message.slice(0, 200)}` };
    }
  }

  private async openBlob(repository: string, digest: string, signal: AbortSignal): Promise<Readable> {
    const storage = this.sharedStorage();
    if (storage) {
      const file = blobDataPath(storage, digest);
      try {
        await fs.promises.access(file);
        return fs.createReadStream(file, { highWaterMark: 1024 * 1024, signal });
      } catch {
        /* not there (yet): ask the registry */
      }
    }
    return this.registry.blobStream(repository, digest, signal);
  }

  report(artifactId: number): Promise<ScanReport | undefined> {
    return reports.findScanReport(this.db, artifactId);
  }

  /** Severity totals over a project's latest reports (the project chart). */
  projectTotals(projectId: number): Promise<{ counts: Record<Severity, number>; scanned: number; artifacts: number }> {
    return severityTotals(this.db, { projectId });
  }

  /** Severity counts of the latest reports, per artifact id (for lists and charts). */
  /** Severity totals over the projects a caller sees (see `severityTotals`; from ProjectService.visibility). */
  async visibleTotals(visible: Visibility) {
    return severityTotals(this.db, { visible });
  }

  summaries(artifactIds: number[]): Promise<Map<number, ScanSummary>> {
    return reports.findScanSummaries(this.db, artifactIds);
  }
}

function dedupeGaps(gaps: ReportGap[]): ReportGap[] {
  const seen = new Set<string>();
  return gaps.filter((g) => {
    const k = `${g.layer ?? ''}|${g.path ?? ''}|${g.reason}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** SIF layer media type (`apptainer push oras://`, `oras push`). */
const SIF_LAYER = /^application\/vnd\.sylabs\.sif\.layer\.v1\.sif$/i;

/** A SIF's inventory as cached: a layer inventory, or the reason it holds no container file system. */
type SifCached = LayerInventory & { notApplicable?: string };

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
