import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { insertAuditLogs } from '../db/repos/audit.js';
import * as inbox from '../db/repos/notification-inbox.js';
import { findProjectByName } from '../db/repos/projects.js';
import type { Logger } from '../log.js';
import { CORE_SUBJECT, IMAGE_TYPES, INDEX_TYPES, MANIFEST_TYPES } from '../registry/constants.js';
import type { RegistryClient } from '../registry/client.js';
import { classifyManifest, COSIGN_TAG } from '../registry/artifact-type.js';
import { REPOSITORY_NAME as REPO_NAME, SHA256_DIGEST as DIGEST, TAG } from '../registry/reference.js';

const MAX_ATTEMPTS = 10;
const LEASE_MS = 60_000;
const INBOX_RETENTION_MS = 7 * 86400_000;

const descriptor = z.object({ mediaType: z.string().max(255).optional(), digest: z.string().max(100), size: z.number().int().nonnegative().optional() }).passthrough();

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
function isRelevant(e: RegistryEvent): boolean {
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

const eventTime = (e: RegistryEvent) => {
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

export interface ReconcileSummary {
  repositories: number;
  artifactsAdded: number;
  artifactsRemoved: number;
  tagsSet: number;
  tagsRemoved: number;
  durationMs: number;
}

export interface PushedArtifact {
  repository: string;
  digest: string;
  tag?: string;
  artifactId: number;
  /** the registry event's id (absent when reconciliation found it) and who pushed */
  eventId?: string;
  operator?: string;
}

/** A manifest GET by a client, or a manifest deleted in the registry, as the registry reported it. */
export interface RegistryActivity {
  repository: string;
  digest: string;
  tag?: string;
  eventId: string;
  operator: string;
  /** epoch milliseconds */
  at: number;
}

/**
 * Keeps repositories, artifacts and tags in step with the registry. Events land durably in an inbox (idempotent on
 * event id) and are applied in order by a drain loop that checks each change against the registry itself, so
 * duplicates and out-of-order deliveries converge on the registry's truth. Reconciliation repairs what events lost.
 */
export class RegistrySync {
  private draining: Promise<void> | null = null;
  private again = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private reconciling: Promise<ReconcileSummary> | null = null;
  private stopped = false;
  private lastActivityAt = 0;
  private lastEnvelopeAt = 0;
  private skipped = 0;
  /** Listeners for applied pushes (auto-scan plugs in here). */
  readonly onPushed: ((a: PushedArtifact) => void | Promise<void>)[] = [];
  /** Listeners for pulls and deletions (webhooks plug in here); called at least once per event, keyed by its id. */
  readonly onPulled: ((a: RegistryActivity) => void | Promise<void>)[] = [];
  readonly onDeleted: ((a: RegistryActivity) => void | Promise<void>)[] = [];

  constructor(
    private readonly db: DB,
    private readonly registry: RegistryClient,
    private readonly log: Logger,
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
      if (await inbox.insertInboxEvent(this.db, { eventId: e.id, payload: JSON.stringify(e), receivedAt: now })) stored++;
      else duplicates++;
    }
    if (stored) this.kick();
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
        this.kick();
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
      this.kick();
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
        await this.apply(e, pulls, audits);
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
      for (const p of pulls.values()) {
        const repo = await art.findRepository(trx, p.repo);
        if (!repo) continue;
        const id = await art.findArtifactId(trx, repo.id, p.digest);
        if (id !== undefined) await art.addPulls(trx, id, repo.id, p.count, p.lastAt);
      }
      await insertAuditLogs(
        trx,
        audits.map((a) => ({ at: a.at, username: a.username, action: a.action, resourceType: 'artifact', resource: a.resource, detail: null, clientIp: a.clientIp })),
      );
      await inbox.markInboxApplied(trx, applied, Date.now());
    });
  }

  private async apply(
    e: RegistryEvent,
    pulls: Map<string, { repo: string; digest: string; count: number; lastAt: number }>,
    batchAudits: { username: string; action: string; resource: string; clientIp: string; at: number }[],
  ): Promise<void> {
    let audits = batchAudits;
    const repo = e.target.repository;
    const at = eventTime(e);
    const who = e.actor?.name || 'anonymous';
    const ip = hostOf(e.request?.addr);
    const ref = e.target.tag ? `${repo}:${e.target.tag}` : `${repo}@${e.target.digest}`;
    // Core's own registry calls (API deletions, imports) are logged by the service that made them, with the real user.
    if (who === CORE_SUBJECT) audits = [];
    if (e.action === 'pull') {
      const key = `${repo}@${e.target.digest}`;
      const p = pulls.get(key) ?? { repo, digest: e.target.digest!, count: 0, lastAt: 0 };
      p.count++;
      p.lastAt = Math.max(p.lastAt, at);
      pulls.set(key, p);
      audits.push({ username: who, action: 'pull', resource: ref, clientIp: ip, at });
      await this.notify(this.onPulled, { repository: repo, digest: e.target.digest!, tag: e.target.tag, eventId: e.id, operator: who, at });
      return;
    }
    if (e.action === 'push') {
      // A manifest is immutable under its digest: one Berth already holds (the same image pushed under another tag)
      // needs no second read of the registry, only its push time.
      const known = await art.findArtifactByRepositoryName(this.db, repo, e.target.digest!);
      let artifactId: number | null;
      if (known) {
        artifactId = known.id;
        await art.markPushed(this.db, known.id, at, who);
      } else artifactId = await this.importArtifact(repo, e.target.digest!, { pushedAt: at, pushedBy: who, tag: e.target.tag });
      // The event's own tag and digest are the truth of this push. The registry emits it before it writes the tag
      // link, so asking the registry for the tag here races it and can answer "no such tag" for a tag that exists a
      // moment later; a push never removes or skips a tag. Reconciliation repairs anything else.
      if (artifactId !== null && e.target.tag) {
        const repoRow = await art.findRepository(this.db, repo);
        if (repoRow) await art.setTagIfNewer(this.db, repoRow.id, artifactId, e.target.tag, at);
        const cosign = COSIGN_TAG.exec(e.target.tag);
        if (cosign) await art.setSubjectIfMissing(this.db, artifactId, `sha256:${cosign[1]}`);
      }
      audits.push({ username: who, action: 'push', resource: ref, clientIp: ip, at });
      if (artifactId !== null) await this.notifyPushed({ repository: repo, digest: e.target.digest!, tag: e.target.tag, artifactId, eventId: e.id, operator: who });
      return;
    }
    // delete: a manifest by digest, or (one event per removed tag) a tag
    const repoRow = await art.findRepository(this.db, repo);
    if (e.target.digest) {
      // Core's own deletions removed the rows already; the event still says the manifest is gone.
      if ((await this.registry.resolve(repo, e.target.digest)) === null) {
        if (repoRow) {
          await art.deleteArtifact(this.db, repoRow.id, e.target.digest);
          await art.deleteRepositoryIfEmpty(this.db, repoRow.id);
        }
        await this.notify(this.onDeleted, { repository: repo, digest: e.target.digest, eventId: e.id, operator: who, at });
      }
      audits.push({ username: who, action: 'delete', resource: ref, clientIp: ip, at });
    } else if (e.target.tag && repoRow) {
      await this.syncTag(repo, e.target.tag);
    }
  }

  private async notifyPushed(a: PushedArtifact): Promise<void> {
    await this.notify(this.onPushed, a);
  }

  private async notify<T>(listeners: ((a: T) => void | Promise<void>)[], a: T): Promise<void> {
    for (const fn of listeners) {
      try {
        await fn(a);
      } catch (err) {
        this.log.error({ err }, 'registry event listener failed');
      }
    }
  }

  /**
   * Makes the DB's tag match the registry's current answer for it. `pushed`: the digest a push event says was pushed
   * under this tag. Distribution sends that event from the manifest PUT before it links the tag, so a fast core can
   * ask about the tag too early: it asks again for about a second, then believes the event (reconciliation repairs
   * a tag removed in between).
   */
  private async syncTag(repo: string, tag: string, pushed?: string): Promise<void> {
    const repoRow = await art.findRepository(this.db, repo);
    if (!repoRow) return;
    let digest = await this.registry.resolve(repo, tag);
    for (let i = 0; digest === null && pushed && i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      digest = await this.registry.resolve(repo, tag);
    }
    if (digest === null && pushed && (await this.registry.resolve(repo, pushed)) !== null) digest = pushed;
    if (digest === null) {
      await art.deleteTag(this.db, repoRow.id, tag);
      return;
    }
    let id = await art.findArtifactId(this.db, repoRow.id, digest);
    if (id === undefined) id = (await this.importArtifact(repo, digest, { pushedAt: Date.now(), pushedBy: null, tag })) ?? undefined;
    if (id === undefined) return;
    await art.setTag(this.db, repoRow.id, id, tag, Date.now());
    const cosign = COSIGN_TAG.exec(tag);
    if (cosign) await art.setSubjectIfMissing(this.db, id, `sha256:${cosign[1]}`);
  }

  /**
   * Reads a manifest (and an image's config) from the registry and records the artifact. Returns its id, or null when
   * the registry no longer has it or its project does not exist. Index children are imported first. The artifact's
   * type, `artifactType`, config media type and `subject` come from the manifest (`tag`, a tag it was pushed under,
   * links cosign's `sha256-<hex>.sig` scheme to its subject).
   */
  async importArtifact(repo: string, digest: string, opts: { pushedAt: number; pushedBy: string | null; tag?: string }, depth = 0): Promise<number | null> {
    const project = await findProjectByName(this.db, repo.split('/')[0]!);
    if (!project) return null;
    const m = await this.registry.manifest(repo, digest);
    if (!m) {
      const repoRow = await art.findRepository(this.db, repo);
      if (repoRow) await art.deleteArtifact(this.db, repoRow.id, digest);
      return null;
    }
    const actual = `sha256:${createHash('sha256').update(m.body).digest('hex')}`;
    if (actual !== digest) throw new Error(`registry returned a manifest with digest ${actual} for ${digest}`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(m.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new Error(`manifest ${repo}@${digest} is not JSON`);
    }
    const mediaType = (typeof doc.mediaType === 'string' && MANIFEST_TYPES.has(doc.mediaType) ? doc.mediaType : m.mediaType) || 'application/octet-stream';
    const kind = classifyManifest(doc, { mediaType, tag: opts.tag });
    const facts: art.ArtifactFacts = {
      type: kind.type,
      artifactType: kind.artifactType,
      configMediaType: kind.configMediaType,
      subject: kind.subject,
      annotations: kind.annotations,
      mediaType,
      manifestSize: m.body.length,
      size: m.body.length,
      configDigest: null,
      os: null,
      architecture: null,
      variant: null,
      created: null,
      pushedAt: opts.pushedAt,
      pushedBy: opts.pushedBy,
      blobs: [],
      children: [],
    };
    const desc = (d: unknown) => {
      const r = descriptor.safeParse(d);
      return r.success && DIGEST.test(r.data.digest) ? { digest: r.data.digest, mediaType: r.data.mediaType ?? '', size: r.data.size ?? 0 } : null;
    };
    if (INDEX_TYPES.has(mediaType)) {
      const list = Array.isArray(doc.manifests) ? doc.manifests.slice(0, 256) : [];
      for (const raw of list) {
        const d = desc(raw);
        if (!d) continue;
        const p = (raw as { platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }).platform;
        const platform = p && typeof p.os === 'string' && typeof p.architecture === 'string' ? `${p.os}/${p.architecture}${typeof p.variant === 'string' ? `/${p.variant}` : ''}` : null;
        facts.children.push({ ...d, platform });
      }
      const repoRow = await art.findRepository(this.db, repo);
      const sizes = new Map<string, number>();
      for (const c of facts.children) {
        const seen = sizes.get(c.digest);
        if (seen !== undefined) {
          facts.size += seen;
          continue;
        }
        let childId = repoRow ? await art.findArtifactId(this.db, repoRow.id, c.digest) : undefined;
        if (childId === undefined && depth < 1) childId = (await this.importArtifact(repo, c.digest, { pushedAt: opts.pushedAt, pushedBy: opts.pushedBy }, depth + 1)) ?? undefined;
        const childSize = childId !== undefined ? await art.findArtifactById(this.db, childId) : undefined;
        sizes.set(c.digest, childSize ? Number(childSize.size) : c.size);
        facts.size += sizes.get(c.digest)!;
      }
    } else if (IMAGE_TYPES.has(mediaType) || doc.config) {
      const config = desc(doc.config);
      const layers = (Array.isArray(doc.layers) ? doc.layers.slice(0, 1000) : []).map(desc).filter((d): d is NonNullable<typeof d> => d !== null);
      if (config) {
        facts.configDigest = config.digest;
        facts.blobs.push(config);
        const blob = await this.registry.smallBlob(repo, config.digest, 1024 * 1024);
        if (blob) {
          try {
            const c = JSON.parse(blob.toString('utf8')) as Record<string, unknown>;
            const str = (v: unknown) => (typeof v === 'string' ? v : null);
            facts.os = str(c.os);
            facts.architecture = str(c.architecture);
            facts.variant = str(c.variant);
            facts.created = str(c.created);
          } catch {
            /* an artifact whose config is not JSON (helm charts, signatures) has no platform */
          }
        }
      }
      facts.blobs.push(...layers);
      // What the registry stores, not what the manifest declares (a manifest may claim 10 bytes for 9 MiB): quota
      // and usage add these up.
      const real = await this.registry.blobSizes(
        repo,
        facts.blobs.map((b) => b.digest),
      );
      for (const b of facts.blobs) b.size = real.get(b.digest) ?? b.size;
      facts.size += facts.blobs.reduce((sum, b) => sum + b.size, 0);
    }
    const repositoryId = await art.ensureRepository(this.db, project.id, repo, Date.now());
    return art.upsertArtifact(this.db, repositoryId, digest, facts);
  }

  /**
   * Walks the registry's catalog and tag lists and repairs the DB in both directions: missing repositories,
   * artifacts and tags are imported; rows whose manifests or tags the registry no longer has are removed.
   */
  reconcile(): Promise<ReconcileSummary> {
    if (!this.reconciling) {
      this.reconciling = this.doReconcile().finally(() => {
        this.reconciling = null;
      });
    }
    return this.reconciling;
  }

  private async doReconcile(): Promise<ReconcileSummary> {
    const started = Date.now();
    const s: ReconcileSummary = { repositories: 0, artifactsAdded: 0, artifactsRemoved: 0, tagsSet: 0, tagsRemoved: 0, durationMs: 0 };
    const inRegistry = new Set<string>();
    let last: string | undefined;
    for (let page = 0; page < 100_000; page++) {
      const { repositories, more } = await this.registry.catalog(last);
      for (const r of repositories) if (REPO_NAME.test(r)) inRegistry.add(r);
      if (!more || repositories.length === 0) break;
      last = repositories[repositories.length - 1];
    }
    for (const name of inRegistry) {
      if (this.stopped) break;
      if (!(await findProjectByName(this.db, name.split('/')[0]!))) continue;
      const tags = (await this.registry.tags(name)) ?? [];
      const current = new Map<string, string>();
      for (const t of tags) {
        if (!TAG.test(t)) continue;
        const d = await this.registry.resolve(name, t);
        if (d) current.set(t, d);
      }
      let repoRow = await art.findRepository(this.db, name);
      const before = repoRow ? await art.repositoryState(this.db, repoRow.id) : { artifacts: [], tags: [] };
      const known = new Map(before.artifacts.map((a) => [a.digest, a.id]));
      // A tag per digest for the import to classify with (cosign's `sha256-<hex>.sig` names the subject).
      const tagOf = new Map<string, string>();
      for (const [t, d] of current) if (!tagOf.has(d) || COSIGN_TAG.test(t)) tagOf.set(d, t);
      // Rows imported before artifact types existed are read again (pushedAt 0 keeps their push time).
      if (repoRow) for (const d of await art.unclassifiedDigests(this.db, repoRow.id)) await this.importArtifact(name, d, { pushedAt: 0, pushedBy: null, tag: tagOf.get(d) });
      for (const d of new Set(current.values())) {
        if (known.has(d)) continue;
        const id = await this.importArtifact(name, d, { pushedAt: Date.now(), pushedBy: null, tag: tagOf.get(d) });
        if (id !== null) {
          known.set(d, id);
          s.artifactsAdded++;
          // Its push notification was lost: do what that push would have done (auto-scan).
          await this.notifyPushed({ repository: name, digest: d, artifactId: id });
        }
      }
      repoRow = await art.findRepository(this.db, name);
      if (!repoRow) continue;
      const repoId = repoRow.id;
      const dbTags = new Map(before.tags.map((t) => [t.name, t.artifactId]));
      for (const [t, d] of current) {
        const id = known.get(d);
        if (id !== undefined && dbTags.get(t) !== id) {
          await art.setTag(this.db, repoId, id, t, Date.now());
          s.tagsSet++;
        }
      }
      for (const t of dbTags.keys()) {
        // Re-asked before removing: a push that landed after the tag list was read must not be undone.
        if (!current.has(t) && (await this.registry.resolve(name, t)) === null) {
          await art.deleteTag(this.db, repoId, t);
          s.tagsRemoved++;
        }
      }
      const tagged = new Set(current.values());
      for (const a of before.artifacts) {
        if (tagged.has(a.digest)) continue;
        if ((await this.registry.resolve(name, a.digest)) === null) {
          await art.deleteArtifact(this.db, repoId, a.digest);
          s.artifactsRemoved++;
        }
      }
      await art.deleteRepositoryIfEmpty(this.db, repoId);
      s.repositories++;
    }
    for (const r of await art.allRepositories(this.db)) {
      if (inRegistry.has(r.name)) continue;
      // Not in the catalog as read at the start; a repository pushed since is, by now: ask per manifest.
      for (const a of (await art.repositoryState(this.db, r.id)).artifacts) {
        if ((await this.registry.resolve(r.name, a.digest)) !== null) continue;
        await art.deleteArtifact(this.db, r.id, a.digest);
        s.artifactsRemoved++;
      }
      await art.deleteRepositoryIfEmpty(this.db, r.id);
    }
    s.durationMs = Date.now() - started;
    this.log.info(s, 'reconciliation done');
    return s;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.draining;
    await this.reconciling?.catch(() => undefined);
  }
}
