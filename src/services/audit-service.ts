import type { DB } from '../db/connect.js';
import { insertAuditLog, insertAuditLogs, listAuditLogs, type AuditEntry, type AuditFilter, type AuditRecord } from '../db/repos/audit.js';
import type { KeysetPage } from '../paging.js';
import type { Logger } from '../log.js';

export interface Actor {
  name: string;
  ip: string;
}

/**
 * The actor of everything done through the `berth` CLI at the server's shell: the audit log names it `(cli)` from address
 * `local`. No username can take that name (usernames start with a letter or digit, src/auth/names.ts), so no account,
 * not even one named `cli` from before that name was reserved, can pass for the operator.
 */
export const CLI_ACTOR: Actor = Object.freeze({ name: '(cli)', ip: 'local' });

/**
 * Every action the audit and access logs record: management actions, sign-ins, and the registry's push, pull,
 * delete and refused pull. The UI names each as `audit.action_<action>`; the raw value stays the API's.
 */
export const AUDIT_ACTIONS = [
  'create',
  'update',
  'delete',
  'login',
  'add_member',
  'remove_member',
  'change_role',
  'change_password',
  'reset_password',
  'adopt',
  'provision',
  'refresh_secret',
  'refresh_cli_secret',
  'register',
  'import',
  'gc',
  'reconcile',
  'scan',
  'scan_all',
  'run',
  'stop',
  'retention_run',
  'retention_dry_run',
  'push',
  'pull',
  'pull_refused',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What an audit row is about; the UI names each as `audit.type_<type>`. */
export const AUDIT_RESOURCE_TYPES = ['user', 'project', 'repository', 'artifact', 'tag', 'robot', 'webhook', 'scanner', 'schedule', 'job', 'system', 'vulndb', 'retention'] as const;
export type AuditResourceType = (typeof AUDIT_RESOURCE_TYPES)[number];

export class AuditService {
  constructor(
    private readonly db: DB,
    private readonly log: Logger,
  ) {}

  /** Records a management action. A failed audit write is logged, never fatal to the action it describes. */
  async record(actor: Actor, action: AuditAction, resourceType: AuditResourceType, resource: string, detail?: Record<string, unknown>): Promise<void> {
    try {
      await insertAuditLog(this.db, {
        username: actor.name,
        clientIp: actor.ip,
        action,
        resourceType,
        resource,
        detail: detail ? JSON.stringify(detail) : null,
      });
    } catch (err) {
      this.log.error({ err, action, resourceType, resource }, 'audit write failed');
    }
  }

  /**
   * Records the registry's access log (pushes, pulls, deletes by clients) inside the caller's transaction, so the
   * rows land exactly once with the events they came from. Unlike {@link record}, a failure is the caller's.
   */
  async recordRegistryAccess(entries: AuditEntry[], trx: DB = this.db): Promise<void> {
    await insertAuditLogs(trx, entries);
  }

  /** Newest first, one keyset page. */
  list(f: AuditFilter): Promise<KeysetPage<AuditRecord>> {
    return listAuditLogs(this.db, f);
  }
}
