import { randomUUID } from 'node:crypto';
import type { DB } from '../db/connect.js';
import * as rw from '../db/repos/registry-writes.js';
import type { Logger } from '../log.js';
import type { WriteTracker } from '../registry/proxy.js';

/** How often a replica publishes its count when it changed; GC waits longer than this before it trusts the counts. */
export const PUBLISH_MS = 200;
const HEARTBEAT_MS = 5000;
/** A replica silent this long is gone (crashed): its count no longer holds garbage collection back. */
export const REPLICA_ALIVE_MS = 15_000;

/**
 * Registry writes in flight, shared by every core replica through the database, so garbage collection drains uploads
 * on all replicas, not only its own. Each replica publishes its proxy's in-flight count (and when its last write
 * ended) within {@link PUBLISH_MS} of a change, and a heartbeat every 5 s; a replica that stops beating is ignored
 * after {@link REPLICA_ALIVE_MS}.
 */
export class WriteDrain {
  readonly replicaId = randomUUID();
  private timer: NodeJS.Timeout | null = null;
  private published = { inflight: -1, lastEndedAt: -1, at: 0 };
  private busy = false;

  constructor(
    private readonly db: DB,
    private readonly writes: WriteTracker,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.publish(), PUBLISH_MS);
    this.timer.unref();
    void this.publish();
  }

  /** Publishes this replica's count if it changed or the heartbeat is due. */
  async publish(force = false): Promise<void> {
    if (this.busy) return;
    const now = Date.now();
    const { inflight, lastEndedAt } = this.writes;
    if (!force && inflight === this.published.inflight && lastEndedAt === this.published.lastEndedAt && now - this.published.at < HEARTBEAT_MS) return;
    this.busy = true;
    try {
      await rw.putReplicaWrites(this.db, this.replicaId, inflight, lastEndedAt, now);
      this.published = { inflight, lastEndedAt, at: now };
    } catch (err) {
      this.log.warn({ err }, 'could not publish registry writes in flight');
    } finally {
      this.busy = false;
    }
  }

  /**
   * Writes in flight on every live replica (this one read directly), and when the latest one ended (epoch ms).
   * Garbage collection waits until this is zero and quiet.
   */
  async everywhere(now = Date.now()): Promise<{ inflight: number; lastEndedAt: number; replicas: number }> {
    const others = await rw.otherReplicasWrites(this.db, this.replicaId, now - REPLICA_ALIVE_MS);
    return { inflight: others.inflight + this.writes.inflight, lastEndedAt: Math.max(others.lastEndedAt, this.writes.lastEndedAt), replicas: others.replicas + 1 };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await rw.deleteReplicaWrites(this.db, this.replicaId).catch(() => undefined);
  }
}
