import { createHash } from 'node:crypto';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import * as inbox from '../db/repos/notification-inbox.js';
import type { Logger } from '../log.js';
import { CORE_SUBJECT, MANIFEST_TYPES } from '../registry/constants.js';
import { REPOSITORY_NAME as REPO_NAME, SHA256_DIGEST as DIGEST, TAG } from '../registry/reference.js';
import type { AuditService } from './audit-service.js';

const MAX_ATTEMPTS = 10;
const LEASE_MS = 60_000;
const INBOX_RETENTION_MS = 7 * 86400_000;

/** An event as Berth keeps it: only the fields it uses, each bounded. */
export interface RegistryEvent {
  id: string;
  timestamp?: string;
  action: string;
  target: { mediaType?: string; digest?: string; repository: string; tag?: string };
  request?: { addr?: string; method?: string };
  actor?: { name?: string };
}

/** Above this an envelope is not read (logged and acknowledged; reconciliation repairs what it held). */
export const MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;

const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
/** A string field cut to `max` characters; an over-long value of a field that must match a grammar is dropped instead. */
const str = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : undefined);
const exact = (v: unknown, max: number) => (typeof v === 'string' && v.length <= max ? v : undefined);

/**
 * One event from the registry, reduced to what Berth uses with every field bounded: oversized fields (a 2 KiB
 * User-Agent, an index's thousands of references) are cut or left out, never a reason to refuse. Null when the
 * event cannot be used at all (no id, action or repository).
 */
export function normalizeEvent(raw: unknown): RegistryEvent | null {
  const e = obj(raw);
  const target = obj(e?.target);
  if (!e || !target) return null;
  const rawId = typeof e.id === 'string' ? e.id : '';
  const action = exact(e.action, 32);
  const repository = exact(target.repository, 255);
  if (!rawId || !action || !repository) return null;
  // Ids are UUIDs in practice; a longer one keeps its identity (idempotency) as a hash.
  const id = rawId.length <= 64 ? rawId : `h:${createHash('sha256').update(rawId).digest('hex').slice(0, 62)}`;
  const request = obj(e.request);
  const actor = obj(e.actor);
  return {
    id,
    timestamp: exact(e.timestamp, 64),
    action,
    target: { mediaType: exact(target.mediaType, 255), digest: exact(target.digest, 100), repository, tag: exact(target.tag, 128) },
    request: { addr: str(request?.addr, 256), method: exact(request?.method, 16) },
    actor: { name: str(actor?.name, 255) },
  };
}

/** How the registry's notification stream is doing, compared with what the registry was seen doing. */
export interface StreamHealth {
  ok: boolean;
  /** seconds since registry activity that should have produced an event, with no event received since (0: flowing) */
  stalledSeconds: number;
  /** age of the oldest received event not applied yet, seconds */
  lagSeconds: number;
  detail: string;
}

/** Activity this long without any event after it means the stream is stuck (delivery is normally sub-second). */
export const STALL_AFTER_MS = 30_000;
/** Events older than this still waiting to be applied mean applying is stuck. */
export const LAG_AFTER_MS = 120_000;

/**
 * Judges the notification stream: stalled when the registry answered a manifest push, pull or delete (seen by the
 * proxy) and no event has arrived since, for {@link STALL_AFTER_MS}; lagging when received events wait too long.
 * The registry stamps and sends its event just before its response ends, so an event may be stored a moment before
 * the proxy sees the response: 2 s of slack. All times epoch ms (0: never).
 */
export function streamHealth(s: { lastActivityAt: number; lastReceivedAt: number; oldestPendingAt: number | null; now: number }): StreamHealth {
  const stalled = s.lastActivityAt > 0 && s.lastReceivedAt < s.lastActivityAt - 2000 && s.now - s.lastActivityAt > STALL_AFTER_MS;
  const stalledSeconds = stalled ? Math.round((s.now - s.lastActivityAt) / 1000) : 0;
  const lagMs = s.oldestPendingAt === null ? 0 : Math.max(0, s.now - s.oldestPendingAt);
  const lagging = lagMs > LAG_AFTER_MS;
  const iso = (t: number) => (t ? new Date(t).toISOString() : 'never');
  const detail = stalled
    ? `no registry event received since ${iso(s.lastReceivedAt)}, though the registry served a manifest at ${iso(s.lastActivityAt)}: check the registry's notification endpoint and its log`
    : lagging
      ? `received events wait ${Math.round(lagMs / 1000)} s to be applied`
      : `last event received ${iso(s.lastReceivedAt)}`;
  return { ok: !stalled && !lagging, stalledSeconds, lagSeconds: Math.round(lagMs / 1000), detail };
}

/** Whether an event changes what Berth stores: manifest pushes, manifest GETs (pulls), deletes. Blob traffic is not. */
export function isRelevant(e: RegistryEvent): boolean {
  if (!REPO_NAME.test(e.target.repository)) return false;
  if (e.target.digest !== undefined && !DIGEST.test(e.target.digest)) return false;
  if (e.target.tag !== undefined && !TAG.test(e.target.tag)) return false;
  if (e.action === 'delete') return !!(e.target.digest || e.target.tag);
  if (!e.target.digest || !MANIFEST_TYPES.has(e.target.mediaType ?? '')) return false;
  if (e.action === 'push') return true;
  // A pull is a manifest GET by someone other than core itself; clients HEAD manifests while pushing.
  if (e.action === 'pull') return e.request?.method === 'GET' && e.actor?.name !== CORE_SUBJECT;
  return false;
}

export const eventTime = (e: RegistryEvent) => {
  const t = e.timestamp ? Date.parse(e.timestamp) : NaN;
  return Number.isFinite(t) ? t : Date.now();
};

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`, bare addresses unchanged. */
export function hostOf(addr: string | undefined): string {
  if (!addr) return 'unknown';
  const first = addr.split(',')[0]!.trim();
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(first);
  if (v6) return v6[1]!;
  const v4 = /^([^:]+):\d+$/.exec(first);
  return (v4 ? v4[1]! : first).slice(0, 64);
}

/** What one drained batch collects to write in one transaction with its applied marks. */
export interface ApplyBatch {
  /** pull counts per `repository@digest` */
  pulls: Map<string, { repo: string; digest: string; count: number; lastAt: number }>;
  /** access-log rows (push, pull, delete by clients) */
  audits: { username: string; action: string; resource: string; clientIp: string; at: number }[];
}

/** Applies one event (idempotently: an event may be applied again after a crash). */
export type EventApplier = (e: RegistryEvent, batch: ApplyBatch) => Promise<void>;

/**
 * The registry's notification inbox: events land durably (idempotent on event id) and a drain loop applies them in
 * arrival order, leasing each (another core replica may drain too), retrying a failing one up to
 * 10 times (MAX_ATTEMPTS) before giving up on it (reconciliation repairs), and batching pull counts and access-log rows
 * with the applied marks in one transaction.
 */
export class NotificationInbox {
  private draining: Promise<void> | null = null;
  private again = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastActivityAt = 0;
  private lastEnvelopeAt = 0;
  private skipped = 0;

  constructor(
    private readonly db: DB,
    private readonly log: Logger,
    private readonly apply: EventApplier,
    private readonly audit: AuditService,
    /** how the inbox asks for a drain (the composing RegistrySync routes it through its own `kick`) */
    private readonly wake: () => void = () => this.kick(),
  ) {}

  /**
   * Stores the relevant events of an envelope (idempotent on event id); returns the counts. Never throws for content:
   * the registry retries a refused envelope forever and every later event waits behind it, so a malformed envelope
   * or event is logged and skipped (reconciliation repairs what it held) and oversized fields are bounded.
   */
  async receive(body: unknown): Promise<{ stored: number; duplicates: number; ignored: number; skipped: number }> {
    this.lastEnvelopeAt = Date.now();
    const events = obj(body)?.events;
    if (!Array.isArray(events)) {
      this.skipped++;
      this.log.warn('notification envelope without an events array: skipped');
      return { stored: 0, duplicates: 0, ignored: 0, skipped: 1 };
    }
    let stored = 0;
    let duplicates = 0;
    let ignored = 0;
    let skipped = 0;
    const now = Date.now();
    const relevant: { eventId: string; payload: string; receivedAt: number }[] = [];
    for (const raw of events) {
      const e = normalizeEvent(raw);
      if (!e) {
        skipped++;
        this.skipped++;
        const id = obj(raw)?.id;
        this.log.warn({ eventId: typeof id === 'string' ? id.slice(0, 64) : undefined }, 'unusable registry event (no id, action or repository): skipped');
        continue;
      }
      if (!isRelevant(e)) {
        ignored++;
        continue;
      }
      relevant.push({ eventId: e.id, payload: JSON.stringify(e), receivedAt: now });
    }
    ({ stored, duplicates } = await inbox.insertInboxEvents(this.db, relevant));
    if (stored) this.wake();
    return { stored, duplicates, ignored, skipped };
  }

  /** An envelope that could not be read (too large, not JSON): counted and logged, never refused. */
  noteUnreadable(reason: string): void {
    this.lastEnvelopeAt = Date.now();
    this.skipped++;
    this.log.warn({ reason }, 'unreadable notification envelope: skipped; reconciliation repairs what it held');
  }

  /** The proxy saw the registry serve a manifest push, GET or delete: an event should follow. */
  noteRegistryActivity(at = Date.now()): void {
    if (at > this.lastActivityAt) this.lastActivityAt = at;
  }

  /** Events skipped as unusable since start (this process). */
  get skippedEvents(): number {
    return this.skipped;
  }

  /** The stream's health: this process's view of the registry's activity against the events every replica stored. */
  async streamHealth(now = Date.now()): Promise<StreamHealth> {
    const backlog = await inbox.inboxBacklog(this.db);
    return streamHealth({
      lastActivityAt: this.lastActivityAt,
      lastReceivedAt: Math.max(this.lastEnvelopeAt, backlog.lastReceivedAt ?? 0),
      oldestPendingAt: backlog.oldestPendingAt,
      now,
    });
  }

  /** Starts (or re-runs) the drain loop in the background. */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drainLoop().finally(() => {
      this.draining = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /** Resolves when everything received so far has been applied (or has failed for now). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drainLoop(): Promise<void> {
    try {
      while (!this.stopped) {
        const progressed = await this.drainBatch();
        if (!progressed) break;
      }
    } catch (err) {
      this.log.error({ err }, 'notification apply failed');
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.wake();
    }, 2000);
    this.retryTimer.unref();
  }

  /** Claims and applies up to 100 pending events in order. Returns false when there was nothing to do. */
  private async drainBatch(): Promise<boolean> {
    const now = Date.now();
    const candidates = await inbox.listClaimableInboxEvents(this.db, now, 100);
    if (!candidates.length) return false;
    const applied: number[] = [];
    const pulls = new Map<string, { repo: string; digest: string; count: number; lastAt: number }>();
    const audits: { username: string; action: string; resource: string; clientIp: string; at: number }[] = [];
    let stalled = false;
    for (const row of candidates) {
      // Conditional claim: another core replica may be draining the same inbox.
      if (!(await inbox.claimInboxEvent(this.db, row.id, now, now + LEASE_MS))) continue;
      const e = JSON.parse(row.payload) as RegistryEvent;
      try {
        await this.apply(e, { pulls, audits });
        applied.push(row.id);
      } catch (err) {
        const attempts = row.attempts + 1;
        const message = (err as Error).message.slice(0, 1000);
        if (attempts >= MAX_ATTEMPTS) {
          this.log.error({ eventId: e.id, err: message }, 'giving up on a notification; reconciliation will repair');
          await inbox.markInboxApplied(this.db, [row.id], Date.now(), message);
          continue;
        }
        // Keep order: release this event and stop here; later events wait for it.
        await inbox.releaseInboxEvent(this.db, row.id, message);
        this.log.warn({ eventId: e.id, err: message, attempts }, 'notification apply failed; will retry');
        stalled = true;
        break;
      }
    }
    await this.flush(applied, pulls, audits);
    if (stalled) {
      this.scheduleRetry();
      return false;
    }
    if (Math.random() < 0.02) {
      await inbox.deleteAppliedInboxEvents(this.db, Date.now() - INBOX_RETENTION_MS);
    }
    return true;
  }

  /** One transaction: batched pull counts, access-log rows, and the applied marks. */
  private async flush(
    applied: number[],
    pulls: Map<string, { repo: string; digest: string; count: number; lastAt: number }>,
    audits: { username: string; action: string; resource: string; clientIp: string; at: number }[],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // In one order (repository, digest), so two replicas' flushes lock rows in the same order.
      const ordered = [...pulls.values()].sort((a, b) => (a.repo === b.repo ? (a.digest < b.digest ? -1 : 1) : a.repo < b.repo ? -1 : 1));
      for (const p of ordered) {
        const repo = await art.findRepository(trx, p.repo);
        if (!repo) continue;
        const id = await art.findArtifactId(trx, repo.id, p.digest);
        if (id !== undefined) await art.addPulls(trx, id, repo.id, p.count, p.lastAt);
      }
      await this.audit.recordRegistryAccess(
        audits.map((a) => ({ at: a.at, username: a.username, action: a.action, resourceType: 'artifact', resource: a.resource, detail: null, clientIp: a.clientIp })),
        trx,
      );
      await inbox.markInboxApplied(trx, applied, Date.now());
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.draining;
  }
}
