import { isSystemAdmin, type Principal } from '../auth/principal.js';
import { denied, unauthorized } from '../errors.js';
import type { JobQueue } from '../jobs/queue.js';
import { GARBAGE_COLLECTION } from '../jobs/types/gc.js';
import { RECONCILE } from '../jobs/types/reconcile.js';
import { CLI_ACTOR, type Actor, type AuditService } from './audit-service.js';

/**
 * Who asks for maintenance: a caller of REST or the UI (its principal, which must be a system admin, and the actor the
 * audit log names), or {@link OPERATOR}.
 */
export type MaintenanceRequester = { principal: Principal; actor: Actor } | typeof OPERATOR;

/**
 * The operator at the server's shell (the `berth` CLI): whoever can run it holds the database credentials, so is
 * trusted like a system admin, and is audited as {@link CLI_ACTOR} (`cli`, a reserved username).
 */
export const OPERATOR = Object.freeze({ operator: true as const, actor: CLI_ACTOR });

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
  async collectGarbage(by: MaintenanceRequester, opts: { dryRun: boolean; deleteUntagged: boolean }): Promise<{ id: number }> {
    requireMaintainer(by);
    const { id } = await this.jobs.enqueue(GARBAGE_COLLECTION, { dryRun: opts.dryRun, deleteUntagged: opts.deleteUntagged });
    await this.audit.record(by.actor, 'gc', 'system', 'registry', { job: id, dry_run: opts.dryRun, delete_untagged: opts.deleteUntagged });
    return { id };
  }

  /** A reconciliation of the database with the registry's catalog and tags; who may ask as {@link collectGarbage}. */
  async reconcile(by: MaintenanceRequester): Promise<{ id: number }> {
    requireMaintainer(by);
    const { id } = await this.jobs.enqueue(RECONCILE, { reason: 'manual', by: by.actor.name });
    await this.audit.record(by.actor, 'reconcile', 'system', 'registry', { job: id });
    return { id };
  }
}

function requireMaintainer(by: MaintenanceRequester): void {
  if ('operator' in by) return;
  if (by.principal.kind === 'anonymous') throw unauthorized();
  if (!isSystemAdmin(by.principal)) throw denied('only system admins run system operations', { key: 'admins_only' });
}
