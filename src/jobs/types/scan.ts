import type { DB } from '../../db/connect.js';
import { ArtifactGone, type ScanService } from '../../services/scan-service.js';
import { PermanentError, type JobType } from '../runner.js';

export const SCAN_IMAGE = 'scan';
export const SCAN_ALL = 'scan-all';

/** Priorities: a push's scan is claimed before anything a scan-all enqueued. */
export const PRIORITY_PUSH = 10;
export const PRIORITY_BULK = 0;

export interface ScanPayload {
  repository: string;
  digest: string;
  reason?: string;
}

export const scanKey = (artifactId: number) => `scan:${artifactId}`;

export function scanJob(scans: ScanService): JobType<ScanPayload> {
  return {
    name: SCAN_IMAGE,
    maxAttempts: 3,
    timeoutMs: 30 * 60_000,
    concurrency: 2,
    priority: PRIORITY_BULK,
    keepHistory: 2000,
    async run(ctx) {
      try {
        const r = await scans.scan(ctx.payload.repository, ctx.payload.digest, ctx.id, ctx);
        return { findings: r.findings.length, ...r.counts, packages: r.packages.length };
      } catch (err) {
        if (err instanceof ArtifactGone) throw new PermanentError(err.message);
        throw err;
      }
    },
  };
}

/**
 * Enqueues a scan of every top-level artifact (index children are scanned through their index) at bulk priority.
 * Stopping it stops the enqueueing: it checks its AbortSignal before each one.
 */
export function scanAllJob(db: DB): JobType<{ reason?: string }> {
  return {
    name: SCAN_ALL,
    maxAttempts: 1,
    timeoutMs: 6 * 60 * 60_000,
    concurrency: 1,
    priority: PRIORITY_BULK,
    keepHistory: 200,
    async run(ctx) {
      const rows = await db
        .selectFrom('artifacts as a')
        .innerJoin('repositories as r', 'r.id', 'a.repository_id')
        .select(['a.id', 'a.digest', 'r.name'])
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('artifact_children as c').innerJoin('artifacts as p', 'p.id', 'c.parent_id').select('c.parent_id').whereRef('c.child_digest', '=', 'a.digest').whereRef('p.repository_id', '=', 'a.repository_id'))),
        )
        .orderBy('a.id')
        .execute();
      let queued = 0;
      for (const [i, r] of rows.entries()) {
        ctx.signal.throwIfAborted();
        const { created } = await ctx.enqueue(SCAN_IMAGE, { repository: r.name, digest: r.digest, reason: 'scan-all' }, { uniqueKey: scanKey(Number(r.id)), releaseKeyOnFinish: true, priority: PRIORITY_BULK });
        if (created) queued++;
        if (i % 20 === 0) await ctx.progress(((i + 1) / rows.length) * 100, `${i + 1} of ${rows.length}`);
      }
      await ctx.log(`queued ${queued} scans of ${rows.length} artifacts`);
      return { artifacts: rows.length, queued };
    },
  };
}
