import type { DB } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/client.js';
import { ArtifactImport, type PushedArtifact, type RegistryActivity } from './artifact-import.js';
import { AuditService } from './audit-service.js';
import { NotificationInbox, type StreamHealth } from './notification-inbox.js';
import { type CounterRecountSummary, Reconciler, type ReconcileSummary } from './reconcile.js';

export type { PushedArtifact, RegistryActivity } from './artifact-import.js';
export { hostOf, LAG_AFTER_MS, MAX_ENVELOPE_BYTES, normalizeEvent, STALL_AFTER_MS, streamHealth, type RegistryEvent, type StreamHealth } from './notification-inbox.js';
export type { CounterRecountSummary, ReconcileSummary } from './reconcile.js';

/**
 * Keeps repositories, artifacts and tags in step with the registry, from three parts: the notification inbox
 * (`notification-inbox.ts`: durable, leased, retried, in order), artifact import (`artifact-import.ts`: what an
 * event or a manifest means for the database) and reconciliation (`reconcile.ts`: repairs what events lost).
 */
export class RegistrySync {
  readonly importer: ArtifactImport;
  readonly inbox: NotificationInbox;
  readonly reconciler: Reconciler;

  constructor(db: DB, registry: RegistryClient, log: Logger, audit: AuditService = new AuditService(db, log)) {
    this.importer = new ArtifactImport(db, registry, log);
    this.inbox = new NotificationInbox(
      db,
      log,
      (e, batch) => this.importer.apply(e, batch),
      audit,
      () => this.kick(),
    );
    this.reconciler = new Reconciler(db, registry, this.importer, log);
  }

  /** Listeners for applied pushes (auto-scan plugs in here). */
  get onPushed(): ((a: PushedArtifact) => void | Promise<void>)[] {
    return this.importer.onPushed;
  }
  /** Listeners for pulls and deletions (webhooks plug in here); called at least once per event, keyed by its id. */
  get onPulled(): ((a: RegistryActivity) => void | Promise<void>)[] {
    return this.importer.onPulled;
  }
  get onDeleted(): ((a: RegistryActivity) => void | Promise<void>)[] {
    return this.importer.onDeleted;
  }

  receive(body: unknown) {
    return this.inbox.receive(body);
  }
  noteUnreadable(reason: string): void {
    this.inbox.noteUnreadable(reason);
  }
  noteRegistryActivity(at = Date.now()): void {
    this.inbox.noteRegistryActivity(at);
  }
  get skippedEvents(): number {
    return this.inbox.skippedEvents;
  }
  streamHealth(now = Date.now()): Promise<StreamHealth> {
    return this.inbox.streamHealth(now);
  }
  kick(): void {
    this.inbox.kick();
  }
  idle(): Promise<void> {
    return this.inbox.idle();
  }
  importArtifact(repo: string, digest: string, opts: { pushedAt: number; pushedBy: string | null; tag?: string }): Promise<number | null> {
    return this.importer.importArtifact(repo, digest, opts);
  }
  reconcile(): Promise<ReconcileSummary> {
    return this.reconciler.reconcile();
  }
  /** Recounts every project's severity counters from the rows (the reconcile job's first step; see Reconciler). */
  recountCounters(): Promise<CounterRecountSummary> {
    return this.reconciler.recountCounters();
  }

  async stop(): Promise<void> {
    await Promise.all([this.inbox.stop(), this.reconciler.stop()]);
  }
}
