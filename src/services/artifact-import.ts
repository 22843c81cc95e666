import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { findProjectByName } from '../db/repos/projects.js';
import { deleteReservationsOf } from '../db/repos/quota-reservations.js';
import { endTagClaim } from '../db/repos/tag-claims.js';
import type { Logger } from '../log.js';
import { CORE_SUBJECT, IMAGE_TYPES, INDEX_TYPES, MANIFEST_TYPES } from '../registry/constants.js';
import type { RegistryClient } from '../registry/client.js';
import { classifyManifest } from '../registry/artifact-type.js';
import { COSIGN_TAG, SHA256_DIGEST as DIGEST } from '../registry/reference.js';
import { eventTime, hostOf, type ApplyBatch, type RegistryEvent } from './notification-inbox.js';

const descriptor = z.object({ mediaType: z.string().max(255).optional(), digest: z.string().max(100), size: z.number().int().nonnegative().optional() }).passthrough();

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
 * Records what the registry holds: applies a registry event (a push imports the artifact and tags it, a pull is
 * counted, a delete removes rows the registry no longer has), checking each change against the registry itself so
 * duplicates and out-of-order deliveries converge on the registry's truth; and imports one artifact from its manifest.
 */
export class ArtifactImport {
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

  /** Applies one registry event; pull counts and access-log rows go into the drained batch. */
  async apply(e: RegistryEvent, batch: ApplyBatch): Promise<void> {
    const { pulls } = batch;
    let audits = batch.audits;
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
        // the usage counts it already: a quota reservation of this push (another tag) would count it twice
        await deleteReservationsOf(this.db, known.repositoryId, e.target.digest!);
      } else artifactId = await this.importArtifact(repo, e.target.digest!, { pushedAt: at, pushedBy: who, tag: e.target.tag });
      // The event's own tag and digest are the truth of this push. The registry emits it before it writes the tag
      // link, so asking the registry for the tag here races it and can answer "no such tag" for a tag that exists a
      // moment later; a push never removes or skips a tag. Reconciliation repairs anything else.
      if (artifactId !== null && e.target.tag) {
        const repoRow = await art.findRepository(this.db, repo);
        if (repoRow) await art.setTagIfNewer(this.db, repoRow.id, artifactId, e.target.tag, at);
        // The database holds the tag now (an immutable tag's check sees it there): its claim has done its work.
        await endTagClaim(this.db, repo, e.target.tag, e.target.digest!);
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

  /** Tells the push listeners (auto-scan, signatures) about an artifact that arrived. */
  async notifyPushed(a: PushedArtifact): Promise<void> {
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
    // A repository exists from its first push: created at that push's time (the event's), which its updated_at
    // (the newest push's) then never precedes.
    const now = Date.now();
    const repositoryId = await art.ensureRepository(this.db, project.id, repo, facts.pushedAt > 0 ? Math.min(facts.pushedAt, now) : now);
    return art.upsertArtifact(this.db, repositoryId, digest, facts);
  }
}
