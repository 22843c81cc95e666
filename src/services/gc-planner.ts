import type { DB } from '../db/connect.js';
import { repositoriesAfter } from '../db/repos/artifacts.js';
import * as refs from '../db/repos/references.js';

/** A manifest garbage collection would delete. */
export interface Unreferenced {
  repository: string;
  digest: string;
  manifestSize: number;
  /** digests of the blobs (config, layers) it references */
  blobs: Set<string>;
}

/**
 * Which artifacts of one repository nothing refers to: not tagged, not listed by a kept index, not the referrer
 * (`subject`) of a kept artifact, not the subject of a kept referrer. Everything reachable from a tag is kept, to a
 * fixed point. Pure: the rule, testable without a registry.
 */
export function unreferencedIn(g: Pick<refs.RepositoryGraph, 'artifacts' | 'children'>): string[] {
  const keep = new Set(g.artifacts.filter((a) => a.tagged).map((a) => a.digest));
  const bySubject = new Map<string, string[]>();
  const subjectOf = new Map<string, string>();
  for (const a of g.artifacts) {
    if (!a.subject) continue;
    bySubject.set(a.subject, [...(bySubject.get(a.subject) ?? []), a.digest]);
    subjectOf.set(a.digest, a.subject);
  }
  let frontier = [...keep];
  while (frontier.length) {
    const next: string[] = [];
    for (const d of frontier) {
      for (const linked of [...(g.children.get(d) ?? []), ...(bySubject.get(d) ?? []), ...(subjectOf.has(d) ? [subjectOf.get(d)!] : [])]) {
        if (!keep.has(linked)) {
          keep.add(linked);
          next.push(linked);
        }
      }
    }
    frontier = next;
  }
  return g.artifacts.filter((a) => !keep.has(a.digest)).map((a) => a.digest);
}

/**
 * What garbage collection with "delete untagged" removes, decided by Berth from what it knows of every index and
 * referrer (distribution 2.8's own `--delete-untagged` treats an index's children as untagged and deletes them). Also
 * the blobs only those manifests use, for a dry run's estimate: blob digest → size Berth recorded.
 */
export async function planUntagged(db: DB, opts: { batchSize?: number } = {}): Promise<{ manifests: Unreferenced[]; uniqueBlobs: Map<string, number> }> {
  const batchSize = opts.batchSize ?? REPOSITORY_BATCH;
  const withSubject = await refs.hasSubjectColumn(db).catch(() => false);
  const manifests: Unreferenced[] = [];
  const going = new Map<number, Unreferenced>();
  // Repositories a page at a time, one repository's graph in memory at a time; what is kept is not remembered.
  for (let after = 0; ; ) {
    const repos = await repositoriesAfter(db, after, batchSize);
    for (const r of repos) {
      const g = await refs.repositoryGraph(db, r.id, r.name, withSubject);
      const gone = new Set(unreferencedIn(g));
      for (const a of g.artifacts) {
        if (!gone.has(a.digest)) continue;
        const m = { repository: r.name, digest: a.digest, manifestSize: a.manifestSize, blobs: new Set<string>() };
        manifests.push(m);
        going.set(a.id, m);
      }
    }
    if (repos.length < batchSize) break;
    after = repos[repos.length - 1]!.id;
  }
  const uniqueBlobs = new Map<string, number>();
  if (going.size) {
    // A blob only going manifests use: every artifact that references it (the database counts them) is going.
    const users = new Map<string, { artifacts: Set<number>; size: number }>();
    for (const [id, blobs] of await refs.blobsOf(db, [...going.keys()])) {
      for (const b of blobs) {
        going.get(id)!.blobs.add(b.digest);
        const u = users.get(b.digest) ?? { artifacts: new Set<number>(), size: b.size };
        u.artifacts.add(id);
        users.set(b.digest, u);
      }
    }
    const all = await refs.blobReferenceCounts(db, [...users.keys()]);
    for (const [d, u] of users) if ((all.get(d) ?? 0) <= u.artifacts.size) uniqueBlobs.set(d, u.size);
  }
  return { manifests, uniqueBlobs };
}

/** Repositories the planner reads per query. */
const REPOSITORY_BATCH = 500;
