import type { AdvisoryStore, ImportStats } from '../scanner/advisory-store.js';
import type { AuditService } from './audit-service.js';
import { requireSystemRequester, type SystemRequester } from './system-requester.js';

/**
 * Imports of OSV advisories on request, for every way in (REST, UI, CLI): allowed to system admins and the operator
 * only, and audited alike. (The scheduled feed download is the `vulndb-update` job's, straight into the store.)
 */
export class AdvisoryImports {
  constructor(
    private readonly store: AdvisoryStore,
    private readonly audit: AuditService,
  ) {}

  /**
   * Imports a file on disk: a zip of OSV files (by its magic bytes, or always with `zip`), else JSON (one record or an
   * array). `source` names it in the audit log (an upload's file name, at most 200 characters kept). Throws
   * `UNAUTHORIZED`/`DENIED` as {@link requireSystemRequester}, else the store's errors (`NotJsonError`, zip errors);
   * a failed import is not audited.
   */
  async importFile(by: SystemRequester, file: string, opts: { source: string; zip?: boolean }): Promise<ImportStats> {
    requireSystemRequester(by);
    const stats = opts.zip ? await this.store.importZipFile(file) : await this.store.importFile(file);
    await this.audit.record(by.actor, 'import', 'vulndb', opts.source.slice(0, 200), {
      imported: stats.imported,
      updated: stats.updated,
      withdrawn: stats.withdrawn,
      invalid: stats.invalid,
    });
    return stats;
  }
}
