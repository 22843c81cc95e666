import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { findProjectByName, listProjectIdsAfter } from '../db/repos/projects.js';
import { deleteExpiredTagClaims } from '../db/repos/tag-claims.js';
import { recountProjectTotals } from '../db/repos/scan-totals.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/client.js';
import { COSIGN_TAG, REPOSITORY_NAME as REPO_NAME, TAG } from '../registry/reference.js';
import type { ArtifactImport } from './artifact-import.js';

export interface ReconcileSummary {
  repositories: number;
  artifactsAdded: number;
  artifactsRemoved: number;
  tagsSet: number;
  tagsRemoved: number;
  durationMs: number;
}

/** What a recount of the severity counters did. */
export interface CounterRecountSummary {
  /** projects whose severity counters were recounted from the rows */
  countersRecounted: number;
  /** of those, projects whose counters had drifted (now repaired) */
  countersRepaired: number;
  /** repositories whose artifact count had drifted from their rows (now repaired) */
  repositoryCountsRepaired: number;
}

/** Projects (and repositories) read per query by the counter recount. */
const PROJECT_BATCH = 100;
/** Repositories read per query by a reconciliation (catalog pages, database pages). */
const REPOSITORY_BATCH = 500;

/** Repairs what lost registry events left wrong, by walking the registry itself (one run at a time per process). */
export class Reconciler {
  private reconciling: Promise<ReconcileSummary> | null = null;
  private stopped = false;
  /** Repository names read per query (the registry's catalog and Berth's repositories alike). */
  batchSize = REPOSITORY_BATCH;

  constructor(
    private readonly db: DB,
    private readonly registry: RegistryClient,
    private readonly importer: ArtifactImport,
    private readonly log: Logger,
  ) {}

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
    // Immutable-tag claims whose push never came back (its core stopped): the registry's view guards the tag now.
    await deleteExpiredTagClaims(this.db, started);
    // The catalog a page at a time: each page's repositories are reconciled before the next page is read.
    for await (const name of this.catalogNames()) {
      if (this.stopped) break;
      await this.reconcileRepository(name, s);
    }
    // Repositories Berth holds that the catalog does not list: by name (byte order), a page at a time, beside a second
    // walk of the catalog. The catalog's order is a walk of the storage's directories, so it differs from byte order
    // where a name goes on with a character below '/' (`p/app/sub` before `p/app-x`): such a repository only looks
    // absent. The registry is asked whether it knows it (one request) before each of its manifests is asked for.
    const catalog = this.catalogNames()[Symbol.asyncIterator]();
    let listed = await catalog.next();
    for (let after: string | null = null; !this.stopped; ) {
      const page = await art.repositoriesByNameAfter(this.db, after, this.batchSize);
      for (const r of page) {
        while (!listed.done && listed.value < r.name) listed = await catalog.next();
        if (!listed.done && listed.value === r.name) continue;
        if (await this.registry.repositoryListed(r.name)) continue;
        for (const a of (await art.repositoryState(this.db, r.id)).artifacts) {
          if ((await this.registry.resolve(r.name, a.digest)) !== null) continue;
          await art.deleteArtifact(this.db, r.id, a.digest);
          s.artifactsRemoved++;
        }
        await art.deleteRepositoryIfEmpty(this.db, r.id);
      }
      if (page.length < this.batchSize) break;
      after = page[page.length - 1]!.name;
    }
    await catalog.return?.();
    s.durationMs = Date.now() - started;
    this.log.info(s, 'reconciliation done');
    return s;
  }

  /** The registry's catalog, in its order (a walk of its storage's directories), read a page of {@link batchSize} at a time. */
  private async *catalogNames(): AsyncIterable<string> {
    let last: string | undefined;
    for (let page = 0; page < 100_000; page++) {
      const { repositories, more } = await this.registry.catalog(last, this.batchSize);
      for (const r of repositories) if (REPO_NAME.test(r)) yield r;
      if (!more || repositories.length === 0) return;
      last = repositories[repositories.length - 1];
    }
  }

  /** Repairs one repository the catalog lists, both ways (see {@link reconcile}). */
  private async reconcileRepository(name: string, s: ReconcileSummary): Promise<void> {
    if (!(await findProjectByName(this.db, name.split('/')[0]!))) return;
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
    if (repoRow) for (const d of await art.unclassifiedDigests(this.db, repoRow.id)) await this.importer.importArtifact(name, d, { pushedAt: 0, pushedBy: null, tag: tagOf.get(d) });
    for (const d of new Set(current.values())) {
      if (known.has(d)) continue;
      const id = await this.importer.importArtifact(name, d, { pushedAt: Date.now(), pushedBy: null, tag: tagOf.get(d) });
      if (id !== null) {
        known.set(d, id);
        s.artifactsAdded++;
        // Its push notification was lost: do what that push would have done (auto-scan).
        await this.importer.notifyPushed({ repository: name, digest: d, artifactId: id });
      }
    }
    repoRow = await art.findRepository(this.db, name);
    if (!repoRow) return;
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

  /**
   * Recounts every project's severity counters from its rows, one project per transaction (see `recountProjectTotals`:
   * bounded batches, under the counter lock the writers take), and logs each drift it repairs. Needs only the database.
   */
  async recountCounters(): Promise<CounterRecountSummary> {
    const s: CounterRecountSummary = { countersRecounted: 0, countersRepaired: 0, repositoryCountsRepaired: 0 };
    let after = 0;
    for (;;) {
      const ids = await listProjectIdsAfter(this.db, after, PROJECT_BATCH);
      for (const id of ids) {
        if (this.stopped) return s;
        const r = await recountProjectTotals(this.db, id);
        if (!r) continue;
        s.countersRecounted++;
        if (r.drifted) {
          s.countersRepaired++;
          this.log.warn({ project: id, was: r.before, now: r.after }, 'severity counters had drifted from the rows: recounted');
        }
      }
      if (ids.length < PROJECT_BATCH) break;
      after = ids[ids.length - 1]!;
    }
    // Each repository's artifact count, one repository per transaction.
    after = 0;
    for (;;) {
      const ids = await art.listRepositoryIdsAfter(this.db, after, PROJECT_BATCH);
      for (const id of ids) {
        if (this.stopped) return s;
        const r = await art.recountRepositoryArtifacts(this.db, id);
        if (r && r.before !== r.after) {
          s.repositoryCountsRepaired++;
          this.log.warn({ repository: id, was: r.before, now: r.after }, 'artifact count had drifted from the rows: recounted');
        }
      }
      if (ids.length < PROJECT_BATCH) return s;
      after = ids[ids.length - 1]!;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.reconciling?.catch(() => undefined);
  }
}
