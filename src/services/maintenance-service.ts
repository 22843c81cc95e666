import type { JobQueue } from '../jobs/queue.js';
import { GARBAGE_COLLECTION } from '../jobs/types/gc.js';
import { RECONCILE } from '../jobs/types/reconcile.js';
import type { AuditService } from './audit-service.js';
import { requireSystemRequester, type SystemRequester } from './system-requester.js';

/**
 * The registry's maintenance on request, for every way in (REST, UI, CLI): garbage collection and reconciliation, each
 * allowed to system admins and the operator only, queued as a job and audited. Each returns the job id.
 */
export class MaintenanceService {
  constructor(
    private readonly jobs: JobQueue,
    private readonly audit: AuditService,
  ) {}

  /**
   * Garbage collection (`dryRun`: only measure; `deleteUntagged`: also delete what nothing refers to).
   * Throws `UNAUTHORIZED` for an anonymous caller and `DENIED` for anyone else but a system admin or the operator.
   */
  async collectGarbage(by: SystemRequester, opts: { dryRun: boolean; deleteUntagged: boolean }): Promise<{ id: number }> {
    requireSystemRequester(by);
    const { id } = await this.jobs.enqueue(GARBAGE_COLLECTION, { dryRun: opts.dryRun, deleteUntagged: opts.deleteUntagged });
    await this.audit.record(by.actor, 'gc', 'system', 'registry', { job: id, dry_run: opts.dryRun, delete_untagged: opts.deleteUntagged });
    return { id };
  }

  /** A reconciliation of the database with the registry's catalog and tags; who may ask as {@link collectGarbage}. */
  async reconcile(by: SystemRequester): Promise<{ id: number }> {
    requireSystemRequester(by);
    const { id } = await this.jobs.enqueue(RECONCILE, { reason: 'manual', by: by.actor.name });
    await this.audit.record(by.actor, 'reconcile', 'system', 'registry', { job: id });
    return { id };
  }
}
