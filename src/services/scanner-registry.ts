import type { DB } from '../db/connect.js';
import * as repo from '../db/repos/scanners.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import { deleteSettingsWhere, getSetting, putSetting } from '../db/repos/settings.js';
import { badRequest, conflict, isUniqueViolation, notFound } from '../errors.js';
import { OutboundError, type OutboundClient } from '../net/outbound.js';
import { ScannerAdapterClient, type AdapterMetadata } from '../scanner/adapter-client.js';

export type { ScannerRegistration } from '../db/repos/scanners.js';

/** An adapter a scan goes to. */
export interface ExternalScanner {
  name: string;
  url: string;
  authorization?: string;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * External scanner adapters as Harbor keeps them: a registry of endpoints that only system admins add (each checked
 * by reading its metadata through the outbound client), a system default, and per project a choice among the
 * registered ones. Project admins never give a URL, so they cannot make Berth call an address of their choosing.
 */
export class ScannerRegistry {
  constructor(
    private readonly db: DB,
    private readonly http: OutboundClient,
  ) {}

  private settingName = (projectId: number | null) => (projectId === null ? 'scanner:system' : `scanner:project:${projectId}`);

  /** A page of the registered adapters, by name. */
  page(req: PageRequest): Promise<KeysetPage<repo.ScannerRegistration>> {
    return repo.pageScannerRegistrations(this.db, req);
  }

  async get(name: string): Promise<repo.ScannerRegistration> {
    const r = name.length <= 64 ? await repo.findScannerRegistration(this.db, { name }) : undefined;
    if (!r) throw notFound(`no scanner is registered as "${name.slice(0, 64)}"`);
    return r;
  }

  /** A client for a registered adapter (for scans). */
  client(s: ExternalScanner): ScannerAdapterClient {
    return new ScannerAdapterClient(s, this.http);
  }

  /**
   * Registers an adapter, or replaces the URL of one with that name, after reading its metadata. BAD_REQUEST when it
   * is not usable (the reason is Berth's own wording: an address the policy refuses, a timeout, an HTTP status,
   * never what the remote end answered).
   */
  async register(input: { name: string; url: string; authorization?: string | null }): Promise<{ registration: repo.ScannerRegistration; metadata: AdapterMetadata }> {
    if (!NAME.test(input.name)) throw badRequest('scanner name must be 1 to 64 lowercase letters, digits, ".", "_" or "-"');
    const metadata = await this.check({ url: input.url, authorization: input.authorization ?? undefined });
    const now = Date.now();
    const existing = await repo.findScannerRegistration(this.db, { name: input.name });
    try {
      if (existing) await repo.updateScannerRegistration(this.db, existing.id, { url: input.url, authorization: input.authorization ?? null, now });
      else await repo.insertScannerRegistration(this.db, { name: input.name, url: input.url, authorization: input.authorization ?? null, now });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`a scanner named ${input.name} already exists`);
      throw err;
    }
    return { registration: (await repo.findScannerRegistration(this.db, { name: input.name }))!, metadata };
  }

  private async check(s: { url: string; authorization?: string }): Promise<AdapterMetadata> {
    let meta: AdapterMetadata;
    try {
      meta = await new ScannerAdapterClient(s, this.http).metadata();
    } catch (err) {
      // OutboundError and the adapter client's own errors carry Berth's words only.
      const why = err instanceof OutboundError || err instanceof Error ? err.message : 'failed';
      throw badRequest(`the scanner adapter is not usable: ${why.slice(0, 300)}`);
    }
    const consumes = meta.capabilities.flatMap((c) => c.consumes_mime_types);
    if (!consumes.some((m) => m.includes('oci.image.manifest') || m.includes('distribution.manifest.v2')))
      throw badRequest('the scanner adapter is not usable: it does not scan OCI or Docker image manifests');
    return meta;
  }

  /** Removes a registration; projects and the system default that used it fall back. */
  async remove(name: string): Promise<void> {
    const r = await this.get(name);
    await deleteSettingsWhere(this.db, 'scanner:', { registration: r.id });
    await repo.deleteScannerRegistration(this.db, r.id);
  }

  /** Picks a registered adapter for a project (or the system default with null); `name` null goes back to the default. */
  async pick(projectId: number | null, name: string | null): Promise<repo.ScannerRegistration | null> {
    if (name === null) {
      await putSetting(this.db, this.settingName(projectId), null);
      return null;
    }
    const r = await this.get(name);
    await putSetting(this.db, this.settingName(projectId), { registration: r.id });
    return r;
  }

  /** The adapter picked for a project (or the system default with null), or null. */
  async picked(projectId: number | null): Promise<ExternalScanner | null> {
    const v = await getSetting<{ registration?: unknown }>(this.db, this.settingName(projectId));
    if (!v || typeof v.registration !== 'number') return null;
    const r = await repo.findScannerRegistration(this.db, { id: v.registration });
    return r ? { name: r.name, url: r.url, ...(r.authorization ? { authorization: r.authorization } : {}) } : null;
  }

  /** The adapter that scans a project's images: the project's pick, else the system default, else none (built-in). */
  async scannerFor(projectId: number): Promise<ExternalScanner | null> {
    return (await this.picked(projectId)) ?? (await this.picked(null));
  }
}
