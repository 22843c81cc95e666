import fs from 'node:fs';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { hasPendingPushEvent } from '../db/repos/notification-inbox.js';
import { findProjectByName, type Project } from '../db/repos/projects.js';
import * as refs from '../db/repos/references.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/client.js';
import type { RegistrySync } from './registry-sync.js';
import { AppError, v2Refusal, type V2Refusal } from '../errors.js';
import type { Actor, AuditService } from './audit-service.js';
import { globToRegExp } from './policy-service.js';
import { COSIGN_TAG, SHA256_DIGEST as DIGEST, TAG } from '../registry/reference.js';
import { readStoredRepository, tagDir } from '../registry/storage.js';

/** Manifests a deletion imports before it decides, at most; past that it answers a retryable 503 (and imported these). */
const MAX_CATCH_UP = 200;
/** Artifacts (and tags, repository names) a repository or project deletion reads per query. */
const DELETION_BATCH = 500;

/** Why something is deleted: shown in the audit log (`api`, `ui`, `gc`, `retention`, …). */
export interface DeletionOptions {
  reason: string;
  /**
   * The caller holds read-only mode itself (garbage collection deleting untagged manifests): its deletions go ahead.
   * Every other deletion waits while the registry is read-only (see {@link DeletionService}).
   */
  holdsReadOnly?: boolean;
}

export interface DeletedArtifact {
  digest: string;
  /** the tags it carried, gone with it */
  tags: string[];
  /** set when the artifact went because it referred to (`subject`) another deleted artifact */
  referrerOf?: string;
}

export interface DeletionResult {
  repository: string;
  deleted: DeletedArtifact[];
}

/** A whole repository whose deletion was checked (see `checkRepository`). */
interface CheckedRepository {
  project: Project;
  repository: string;
  repositoryId: number;
  /** the registry's tags by digest (the catch-up's answer) */
  inRegistry: Map<string, string[]>;
}

/** A checked deletion: every digest that goes, in the order it goes (indexes and referrers before what they name). */
export interface DeletionPlan {
  project: Project;
  repository: string;
  repositoryId: number;
  artifacts: DeletedArtifact[];
}

/**
 * The one way anything stored is deleted: REST and UI (tag, artifact, repository, project), `/v2` manifest DELETEs
 * through the proxy (checked here, forwarded by the proxy), garbage collection and retention. Every path meets the
 * same two rules before anything is removed:
 *
 * - **Immutability**: a tag matching one of the project's `immutable_tags` globs cannot be deleted, nor the artifact
 *   it points at, nor a repository or project that holds one (`PRECONDITION`, 412). Remove the rule first.
 * - **Index integrity**: an artifact that a kept image index lists cannot be deleted on its own — the multi-arch image
 *   would stop pulling (`CONFLICT`, 409, naming the index). Deleting the index in the same request is fine.
 *
 * - **Read-only**: while garbage collection holds the registry read-only, nothing is deleted (`UNAVAILABLE`, 503, with
 *   `Retry-After`): the same refusal, from the same function (`PolicyService.readOnlyRefusal`), as a `/v2` DELETE gets.
 *   The registry's `garbage-collect` fails when a manifest it is marking disappears under it.
 *
 * Deleting an artifact deletes its referrers too (manifests whose `subject` is it: signatures, SBOMs), when Berth
 * records subjects. Permissions are the caller's to check; this service only enforces what no one may break.
 *
 * The rules are judged on what the **registry** holds, not only on what Berth has imported: a push is visible in the
 * registry the moment its PUT answers, its notification comes later. So each check first catches up with the
 * repository ({@link catchUp}): tags the registry has are added to the database's, and manifests Berth has not
 * imported yet (an index listing a child, a signature naming a subject) are imported before anything is decided.
 */
export class DeletionService {
  private subjectColumn: Promise<boolean> | null = null;
  /** Rows read per query when a whole repository or project goes (artifacts, tags, repository names). */
  batchSize = DELETION_BATCH;

  /**
   * @param storageDir the registry's storage root when Berth can read it (managed, or shared with an external
   *   registry): the catch-up then reads tag and revision links from disk; without it, tags come from the registry API
   *   and untagged manifests from the notification inbox.
   * @param managedStorage the managed registry's storage root (null: external), where a single tag is deleted
   */
  constructor(
    private readonly db: DB,
    private readonly registry: RegistryClient,
    private readonly sync: Pick<RegistrySync, 'importArtifact' | 'kick'>,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly managedStorage: () => string | null,
    private readonly storageDir: () => string | null = managedStorage,
    private readonly readOnlyRefusal: () => Promise<V2Refusal | null> = async () => null,
    /** writes in flight through this process: garbage collection's drain waits for deletions as for `/v2` writes */
    private readonly writes: { inflight: number; lastEndedAt: number } = { inflight: 0, lastEndedAt: 0 },
  ) {}

  /**
   * Runs a deletion as a registry write: counted in flight first (so garbage collection, which turns read-only and
   * then drains writes, waits for it), then refused if read-only already holds. The caller holding read-only itself
   * (GC's own deletions) is neither counted nor refused.
   */
  private async asRegistryWrite<T>(opts: DeletionOptions, fn: () => Promise<T>): Promise<T> {
    if (opts.holdsReadOnly) return fn();
    this.writes.inflight++;
    try {
      await this.refuseWhileReadOnly(opts);
      return await fn();
    } finally {
      this.writes.inflight--;
      this.writes.lastEndedAt = Date.now();
    }
  }

  /** Throws `UNAVAILABLE` (503, with the seconds to wait) while the registry is read-only, unless the caller holds it. */
  private async refuseWhileReadOnly(opts: DeletionOptions): Promise<void> {
    if (opts.holdsReadOnly) return;
    const refused = await this.readOnlyRefusal();
    if (refused) throw new AppError('UNAVAILABLE', refused.message, undefined, undefined, { retryAfterSeconds: Number(refused.headers?.['Retry-After'] ?? 5) });
  }

  /**
   * Brings Berth's record of a repository up to what the registry holds before a deletion is judged, and returns the
   * registry's tags by digest (tags are not written here: the push event records them with their push time).
   * Manifests the registry holds and Berth has not imported are imported now (their push events then only confirm
   * them). With the storage readable that is every revision; without it, every tagged manifest, and events for the
   * repository still waiting in the inbox are applied first. Throws `UNAVAILABLE` (503, retryable) when that cannot
   * finish promptly, rather than judge on a stale picture.
   */
  async catchUp(repository: string): Promise<Map<string, string[]>> {
    const byDigest = new Map<string, string[]>();
    const storage = this.storageDir();
    const stored = storage ? readStoredRepository(storage, repository) : null;
    let tags: Map<string, string>;
    let revisions: Map<string, number>;
    if (stored) {
      tags = stored.tags;
      revisions = stored.revisions;
    } else {
      await this.awaitInbox(repository);
      tags = new Map();
      const names = ((await this.registry.tags(repository)) ?? []).filter((t) => TAG.test(t));
      // HEAD each tag, 8 at a time: a DELETE is rare, a repository's tags can be many.
      for (let i = 0; i < names.length; i += 8) {
        const chunk = names.slice(i, i + 8);
        const digests = await Promise.all(chunk.map((t) => this.registry.resolve(repository, t)));
        chunk.forEach((t, k) => {
          if (digests[k]) tags.set(t, digests[k]!);
        });
      }
      revisions = new Map([...new Set(tags.values())].map((d) => [d, Date.now()]));
    }
    const tagOf = new Map<string, string>();
    for (const [t, d] of tags) {
      byDigest.set(d, [...(byDigest.get(d) ?? []), t]);
      if (!tagOf.has(d) || COSIGN_TAG.test(t)) tagOf.set(d, t);
    }
    const repoRow = await art.findRepository(this.db, repository);
    // the registry's digests looked up in the database, 500 at a time (never every digest Berth holds)
    const known = repoRow ? await refs.knownDigests(this.db, repoRow.id, [...revisions.keys()]) : new Set<string>();
    // Newest first: a push waiting for its notification is recent. At most MAX_CATCH_UP per call, so a repository
    // with many manifests Berth never recorded (lost events of long ago) converges over a few retries.
    const missing = [...revisions.keys()].filter((d) => !known.has(d)).sort((a, b) => revisions.get(b)! - revisions.get(a)!);
    for (const d of missing.slice(0, MAX_CATCH_UP)) {
      await this.sync.importArtifact(repository, d, { pushedAt: revisions.get(d)!, pushedBy: null, tag: tagOf.get(d) });
    }
    if (missing.length) this.log.info({ repository, imported: Math.min(missing.length, MAX_CATCH_UP) }, 'imported manifests not yet notified before a deletion');
    if (missing.length > MAX_CATCH_UP) {
      throw new AppError('UNAVAILABLE', `Berth had not recorded ${missing.length} manifests of ${repository} and imported ${MAX_CATCH_UP} of them: retry the deletion`);
    }
    return byDigest;
  }

  /**
   * Applies the push events for this repository that were waiting in the inbox when the deletion came (no storage to
   * read): waits up to 5 s, else 503. Later events and pulls do not hold it up.
   */
  private async awaitInbox(repository: string): Promise<void> {
    const asOf = Date.now();
    const deadline = Date.now() + 5000;
    for (;;) {
      const waiting = await hasPendingPushEvent(this.db, repository, asOf);
      if (!waiting) return;
      if (Date.now() > deadline) throw new AppError('UNAVAILABLE', `Berth is still applying pushes to ${repository}: retry the deletion in a few seconds`);
      this.sync.kick();
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private withSubjects(): Promise<boolean> {
    this.subjectColumn ??= refs.hasSubjectColumn(this.db).catch(() => false);
    return this.subjectColumn;
  }

  private async projectOf(repository: string): Promise<Project> {
    const project = await findProjectByName(this.db, repository.split('/')[0]!);
    if (!project) throw new AppError('NOT_FOUND', `project of ${repository} not found`);
    return project;
  }

  /** The immutability rule a tag falls under in a project, if any. */
  immutableRule(project: Project, tag: string): string | null {
    for (const g of project.immutableTags) if (globToRegExp(g).test(tag)) return g;
    return null;
  }

  private refuseImmutable(project: Project, repository: string, tags: string[], what: string): void {
    for (const t of tags) {
      const rule = this.immutableRule(project, t);
      if (rule) throw new AppError('PRECONDITION', `tag ${repository}:${t} is immutable in project ${project.name} (rule "${rule}"): ${what} cannot be deleted. Remove the rule first.`);
    }
  }

  /**
   * Checks deleting these manifests (sha256 digests) of one repository, with their referrers, and returns the plan.
   * A digest neither Berth nor the registry holds (already deleted) is left out. Throws `PRECONDITION` when an
   * immutable tag would go, `CONFLICT` when a kept index lists one of them, `UNAVAILABLE` when Berth cannot catch up
   * with the registry first (see {@link catchUp}).
   * Deletes nothing.
   */
  async plan(repository: string, digests: string[]): Promise<DeletionPlan> {
    const project = await this.projectOf(repository);
    const wanted = [...new Set(digests)];
    for (const d of wanted) if (!DIGEST.test(d)) throw new AppError('BAD_REQUEST', `not a sha256 digest: ${String(d).slice(0, 100)}`);
    const inRegistry = await this.catchUp(repository);
    const repoRow = await art.findRepository(this.db, repository);
    if (!repoRow) throw new AppError('NAME_UNKNOWN', `repository ${repository} not found`);
    const repositoryId = repoRow.id;
    // Referrers go with their subject, transitively (a signature of an SBOM of an image).
    const referrerOf = new Map<string, string>();
    const all = new Set(wanted);
    if (await this.withSubjects()) {
      let frontier = wanted;
      for (let depth = 0; frontier.length && depth < 8; depth++) {
        const found = (await refs.referrersOf(this.db, repositoryId, frontier)).filter((r) => !all.has(r.digest));
        for (const r of found) {
          all.add(r.digest);
          referrerOf.set(r.digest, r.subject);
        }
        frontier = found.map((r) => r.digest);
      }
    }
    const links = await refs.artifactLinks(this.db, repositoryId, [...all]);
    // A tag the registry shows and Berth has not recorded yet counts as much as a recorded one.
    for (const l of links) l.tags = [...new Set([...l.tags, ...(inRegistry.get(l.digest) ?? [])])].sort();
    const known = new Map(links.map((l) => [l.digest, l]));
    for (const d of all) this.refuseImmutable(project, repository, known.get(d)?.tags ?? inRegistry.get(d) ?? [], `${repository}@${d.slice(0, 19)}…`);
    for (const l of links) {
      const kept = l.parents.filter((p) => !all.has(p));
      if (kept.length) {
        throw new AppError(
          'CONFLICT',
          `${repository}@${l.digest} is listed by the image index ${repository}@${kept[0]}${kept.length > 1 ? ` (and ${kept.length - 1} more)` : ''}: deleting it alone would break that multi-arch image. Delete the index first, or with it.`,
        );
      }
    }
    // Order: whatever names another deleted artifact (an index listing it, a referrer of it) goes first, so no
    // moment leaves a kept manifest pointing at a missing one.
    const pointsAt = new Map<string, Set<string>>();
    for (const l of links) for (const p of l.parents) if (all.has(p)) pointsAt.set(p, (pointsAt.get(p) ?? new Set()).add(l.digest));
    for (const [r, s] of referrerOf) pointsAt.set(r, (pointsAt.get(r) ?? new Set()).add(s));
    // Kahn's order over "points at" (linear: repositories can hold thousands of artifacts).
    const indegree = new Map(links.map((l) => [l.digest, 0]));
    for (const targets of pointsAt.values()) for (const t of targets) if (indegree.has(t)) indegree.set(t, indegree.get(t)! + 1);
    const ready = links.map((l) => l.digest).filter((d) => indegree.get(d) === 0);
    const ordered: string[] = [];
    while (ready.length) {
      const d = ready.pop()!;
      ordered.push(d);
      for (const t of pointsAt.get(d) ?? []) {
        if (!indegree.has(t)) continue;
        const n = indegree.get(t)! - 1;
        indegree.set(t, n);
        if (n === 0) ready.push(t);
      }
    }
    // A cycle cannot occur with content-addressed manifests; should one, the rest go in any order.
    if (ordered.length < links.length) for (const l of links) if (!ordered.includes(l.digest)) ordered.push(l.digest);
    return { project, repository, repositoryId, artifacts: ordered.map((d) => ({ digest: d, tags: known.get(d)!.tags, ...(referrerOf.has(d) ? { referrerOf: referrerOf.get(d)! } : {}) })) };
  }

  /** Carries out a plan: each manifest through the registry API (404 counts as gone), then its DB rows. */
  private async execute(actor: Actor, plan: DeletionPlan, opts: DeletionOptions & { auditEach: boolean }): Promise<DeletionResult> {
    const deleted: DeletedArtifact[] = [];
    for (const a of plan.artifacts) {
      await this.registry.deleteManifest(plan.repository, a.digest);
      await art.deleteArtifact(this.db, plan.repositoryId, a.digest);
      deleted.push(a);
      if (opts.auditEach)
        await this.audit.record(actor, 'delete', 'artifact', `${plan.repository}@${a.digest}`, { tags: a.tags, reason: opts.reason, ...(a.referrerOf ? { referrer_of: a.referrerOf } : {}) });
    }
    await art.deleteRepositoryIfEmpty(this.db, plan.repositoryId);
    return { repository: plan.repository, deleted };
  }

  /**
   * Deletes manifests of one repository by digest, with their referrers, after {@link plan}'s checks (same errors).
   * Each deleted artifact is audit-logged with `reason`. Returns what was deleted, in order. The API retention and
   * garbage collection use.
   */
  async deleteArtifacts(actor: Actor, repository: string, digests: string[], opts: DeletionOptions): Promise<DeletionResult> {
    return this.asRegistryWrite(opts, async () => {
      const plan = await this.plan(repository, digests);
      return this.execute(actor, plan, { ...opts, auditEach: true });
    });
  }

  /** Deletes a whole repository (every artifact; refused while it holds an immutable tag). Returns how many went. */
  async deleteRepository(actor: Actor, repository: string, opts: DeletionOptions): Promise<{ repository: string; deleted: number }> {
    return this.asRegistryWrite(opts, async () => {
      const checked = await this.checkRepository(repository);
      const deleted = await this.emptyRepository(checked);
      await art.deleteRepositoryRow(this.db, checked.repositoryId);
      await this.audit.record(actor, 'delete', 'repository', repository, { artifacts: deleted, reason: opts.reason });
      return { repository, deleted };
    });
  }

  /**
   * A whole repository's deletion, checked: caught up with the registry first (manifests pushed a moment ago go too,
   * and their tags are judged), then every tag the registry or the database holds, the database's page by page
   * ({@link batchSize} at a time), against the project's immutability rules.
   */
  private async checkRepository(repository: string): Promise<CheckedRepository> {
    const project = await this.projectOf(repository);
    const inRegistry = await this.catchUp(repository);
    const repoRow = await art.findRepository(this.db, repository);
    if (!repoRow) throw new AppError('NAME_UNKNOWN', `repository ${repository} not found`);
    for (const [d, tags] of inRegistry) this.refuseImmutable(project, repository, tags, `${repository}@${d.slice(0, 19)}…`);
    for (let after: string | null = null; ; ) {
      const names = await refs.repositoryTagNames(this.db, repoRow.id, after, this.batchSize);
      this.refuseImmutable(project, repository, names, `repository ${repository}`);
      if (names.length < this.batchSize) break;
      after = names[names.length - 1]!;
    }
    return { project, repository, repositoryId: repoRow.id, inRegistry };
  }

  /**
   * Deletes every artifact of a checked repository, {@link batchSize} at a time: each batch holds artifacts nothing
   * left in the repository points at (indexes before what they list, referrers before their subjects), so no moment
   * leaves a kept manifest pointing at a missing one, and memory holds one batch whatever the repository's size.
   * Each batch's tags are judged again (a push imported since the check). Returns how many were deleted.
   */
  private async emptyRepository(r: CheckedRepository): Promise<number> {
    const withSubject = await this.withSubjects();
    let deleted = 0;
    let afterId = 0;
    for (;;) {
      let batch = await refs.unreferencedArtifacts(this.db, r.repositoryId, afterId, this.batchSize, withSubject);
      if (!batch.length) {
        if (afterId > 0) {
          // end of a pass (each deleted something): what it freed goes on the next one
          afterId = 0;
          continue;
        }
        // from the first id on, nothing is free: empty, or (content addressing cannot make one) a cycle, taken by id
        batch = await refs.artifactsAfter(this.db, r.repositoryId, 0, this.batchSize);
        if (!batch.length) break;
      }
      const links = await refs.artifactLinks(
        this.db,
        r.repositoryId,
        batch.map((a) => a.digest),
      );
      for (const l of links) this.refuseImmutable(r.project, r.repository, [...l.tags, ...(r.inRegistry.get(l.digest) ?? [])], `${r.repository}@${l.digest.slice(0, 19)}…`);
      for (const a of batch) {
        await this.registry.deleteManifest(r.repository, a.digest);
        await art.deleteArtifact(this.db, r.repositoryId, a.digest);
        deleted++;
      }
      afterId = batch[batch.length - 1]!.id;
    }
    return deleted;
  }

  /**
   * Deletes every repository of a project (a forced project deletion). All are checked before any is touched, so a
   * refusal (an immutable tag anywhere) leaves the project whole; repositories are read by name, {@link batchSize}
   * at a time, in both passes. Returns the number of artifacts deleted.
   */
  async deleteProjectRepositories(actor: Actor, project: Project, opts: DeletionOptions): Promise<number> {
    if (!(await art.listRepositoryNames(this.db, project.id, null, 1)).length) return 0;
    const eachRepository = async (fn: (name: string) => Promise<void>) => {
      for (let after: string | null = null; ; ) {
        const names = await art.listRepositoryNames(this.db, project.id, after, this.batchSize);
        for (const name of names) await fn(name);
        if (names.length < this.batchSize) return;
        after = names[names.length - 1]!;
      }
    };
    return this.asRegistryWrite(opts, async () => {
      await eachRepository(async (name) => void (await this.checkRepository(name)));
      let n = 0;
      await eachRepository(async (name) => {
        const checked = await this.checkRepository(name);
        const deleted = await this.emptyRepository(checked);
        await art.deleteRepositoryRow(this.db, checked.repositoryId);
        await this.audit.record(actor, 'delete', 'repository', name, { artifacts: deleted, reason: opts.reason });
        n += deleted;
      });
      return n;
    });
  }

  /**
   * Deletes one tag and leaves its artifact (refused for an immutable tag). Distribution 2.8 has no tag DELETE
   * (`400 DIGEST_INVALID`), so with the managed registry the tag's link is removed from storage, as 3.x's tag DELETE
   * does; an external registry answers `UNSUPPORTED`.
   */
  async deleteTag(actor: Actor, repository: string, tag: string, opts: DeletionOptions): Promise<{ digest: string }> {
    if (!TAG.test(tag)) throw new AppError('BAD_REQUEST', 'invalid tag');
    return this.asRegistryWrite(opts, () => this.removeTag(actor, repository, tag, opts));
  }

  private async removeTag(actor: Actor, repository: string, tag: string, opts: DeletionOptions): Promise<{ digest: string }> {
    const project = await this.projectOf(repository);
    const repoRow = await art.findRepository(this.db, repository);
    const artifact = repoRow ? await art.findArtifact(this.db, repoRow.id, tag) : undefined;
    if (!repoRow || !artifact) throw new AppError('MANIFEST_UNKNOWN', `tag ${repository}:${tag} not found`);
    this.refuseImmutable(project, repository, [tag], 'it');
    const managed = this.managedStorage();
    if (!managed) throw new AppError('UNSUPPORTED', 'deleting a single tag needs the managed registry; delete the artifact instead');
    const dir = tagDir(managed, repository, tag);
    if (!dir) throw new AppError('BAD_REQUEST', 'invalid tag');
    fs.rmSync(dir, { recursive: true, force: true });
    await art.deleteTag(this.db, repoRow.id, tag);
    await this.audit.record(actor, 'delete', 'tag', `${repository}:${tag}`, { digest: artifact.digest, reason: opts.reason });
    return { digest: artifact.digest };
  }

  /**
   * The `/v2` side: whether a manifest DELETE (by digest, or by tag on registries that allow it) may be forwarded.
   * A registry-style refusal (`PRECONDITION` 412 for immutability, `CONFLICT` 409 naming the index for an index's
   * child, `UNAVAILABLE` 503 while Berth cannot catch up with the registry) or null. The rules are judged on what the
   * registry holds: a manifest or tag pushed a moment ago, whose notification Berth has not applied yet, counts.
   */
  async v2DeleteRefusal(repository: string, reference: string): Promise<V2Refusal | null> {
    const project = await findProjectByName(this.db, repository.split('/')[0]!);
    if (!project) return null;
    try {
      if (!DIGEST.test(reference)) {
        this.refuseImmutable(project, repository, [reference], 'it');
        return null;
      }
      await this.plan(repository, [reference]);
      return null;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === 'UNAVAILABLE') return v2Refusal('UNAVAILABLE', err.message, { headers: { 'Retry-After': '5' } });
      if (err.code !== 'PRECONDITION' && err.code !== 'CONFLICT') return null;
      this.log.info({ repository, reference, reason: err.message }, 'registry DELETE refused');
      return v2Refusal(err.code, err.message);
    }
  }
}
