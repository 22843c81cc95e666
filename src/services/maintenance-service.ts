import type { JobQueue } from '../jobs/queue.js';
import { GARBAGE_COLLECTION } from '../jobs/types/gc.js';
import { RECONCILE } from '../jobs/types/reconcile.js';
import type { Actor, AuditService } from './audit-service.js';

/**
 * The registry's maintenance on request, for REST and UI alike: garbage collection and reconciliation, each queued
 * as a job and audited. The caller is a system admin (the routes check it). Each returns the job id.
 */
export class MaintenanceService {
  constructor(
    private readonly jobs: JobQueue,
    private readonly audit: AuditService,
  ) {}

  /** Garbage collection (`dryRun`: only measure; `deleteUntagged`: also delete what nothing refers to). */
  async collectGarbage(actor: Actor, opts: { dryRun: boolean; deleteUntagged: boolean }): Promise<{ id: number }> {
    const { id } = await this.jobs.enqueue(GARBAGE_COLLECTION, { dryRun: opts.dryRun, deleteUntagged: opts.deleteUntagged });
    await this.audit.record(actor, 'gc', 'system', 'registry', { job: id, dry_run: opts.dryRun, delete_untagged: opts.deleteUntagged });
    return { id };
  }

  /** A reconciliation of the database with the registry's catalog and tags. */
  async reconcile(actor: Actor): Promise<{ id: number }> {
    const { id } = await this.jobs.enqueue(RECONCILE, { reason: 'manual', by: actor.name });
    await this.audit.record(actor, 'reconcile', 'system', 'registry', { job: id });
    return { id };
  }
}
