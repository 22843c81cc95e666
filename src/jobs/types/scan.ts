import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import type { DB } from '../../db/connect.js';
import { manualPayload, scanPayload } from '../payloads.js';
import { countUnfinishedByKeys } from '../../db/repos/job-progress.js';
import { countTopLevelArtifacts, findArtifactByRepositoryName, listTopLevelArtifacts } from '../../db/repos/artifacts.js';
import type { JobQueue } from '../queue.js';
import type { JobEvent } from '../runner.js';
import { ArtifactGone, type ScanService } from '../../services/scan-service.js';
import { PermanentError, type JobType } from '../runner.js';

export const SCAN_IMAGE = 'scan';
export const SCAN_ALL = 'scan-all';

/**
 * Priorities: a push's scan is claimed before anything a scan-all enqueued. A project's push scans step down one
 * level per scan of the same project still open (to `PRIORITY_PUSH_MIN`), so one project pushing many (or huge)
 * images cannot hold every scan slot while another project's fresh push waits.
 */
export const PRIORITY_PUSH = 10;
export const PRIORITY_PUSH_MIN = 1;
export const PRIORITY_BULK = 0;

/** The priority of a push-triggered scan, given how many scans of its project are open already. */
export const pushScanPriority = (openOfProject: number) => Math.max(PRIORITY_PUSH_MIN, PRIORITY_PUSH - openOfProject);

export { scanPayload };
export type ScanPayload = z.infer<typeof scanPayload>;

export const scanKey = (artifactId: number) => `scan:${artifactId}`;

/**
 * The one way a scan of an artifact is queued, whoever asks (a user, scan-all, a push): one open scan per artifact
 * (its key, released when the scan ends, so a second request returns the queued or running one), at `priority`.
 */
export function enqueueScan(
  queue: Pick<JobQueue, 'enqueue'>,
  artifact: { id: number; repository: string; digest: string },
  opts: { reason: 'manual' | 'push' | 'scan-all'; priority: number },
): Promise<{ id: number; created: boolean }> {
  return queue.enqueue(
    SCAN_IMAGE,
    { repository: artifact.repository, digest: artifact.digest, artifactId: artifact.id, reason: opts.reason },
    { uniqueKey: scanKey(artifact.id), releaseKeyOnFinish: true, priority: opts.priority },
  );
}

export function scanJob(scans: ScanService): JobType<ScanPayload> {
  return {
    name: SCAN_IMAGE,
    payload: scanPayload,
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

/** Artifacts scan-all reads per query. */
const SCAN_ALL_BATCH = 500;

/**
 * Enqueues a scan of every top-level artifact (index children are scanned through their index) at bulk priority,
 * then waits for those scans: its progress counts scans that *finished* (queueing 100k scans is quick; the scans
 * are the work). Stopping it stops the enqueueing and the waiting: it checks its AbortSignal before each step.
 * `pollMs`: how often it counts finished scans (1 s).
 */
export function scanAllJob(db: DB, opts: { pollMs?: number; batchSize?: number } = {}): JobType<{ reason?: string }> {
  const pollMs = opts.pollMs ?? 1000;
  const batchSize = opts.batchSize ?? SCAN_ALL_BATCH;
  return {
    name: SCAN_ALL,
    payload: manualPayload,
    maxAttempts: 1,
    timeoutMs: 6 * 60 * 60_000,
    concurrency: 1,
    priority: PRIORITY_BULK,
    keepHistory: 200,
    async run(ctx) {
      // The artifacts are read a page at a time (by id), in both phases: memory holds one page, whatever their number.
      const expected = await countTopLevelArtifacts(db);
      let total = 0;
      let queued = 0;
      let lastId = 0;
      for (;;) {
        const rows = await listTopLevelArtifacts(db, lastId, batchSize);
        for (const r of rows) {
          ctx.signal.throwIfAborted();
          const { created } = await enqueueScan(ctx, { id: r.id, repository: r.repository, digest: r.digest }, { reason: 'scan-all', priority: PRIORITY_BULK });
          total++;
          if (created) queued++;
          if (total % 100 === 1) await ctx.progress(0, 'scan_all_queueing', { done: total, total: Math.max(expected, total) });
        }
        if (rows.length) lastId = rows[rows.length - 1]!.id;
        if (rows.length < batchSize) break;
      }
      await ctx.log(queued < total ? 'scan_all_queued_busy' : 'scan_all_queued', { queued, total, busy: total - queued });
      // Waits page by page, in the order they were queued (the order scans are claimed in): a page is done when none of
      // its artifacts has an open scan (its key is released, or its job ended). A scan that was already queued (a
      // push's) counts too: scan-all is done when every artifact has been scanned. Artifacts pushed since are not waited for.
      let before = 0;
      for (let after = 0; ; ) {
        const page = (await listTopLevelArtifacts(db, after, batchSize)).filter((r) => r.id <= lastId);
        if (!page.length) break;
        const keys = page.map((r) => scanKey(r.id));
        for (;;) {
          ctx.signal.throwIfAborted();
          const open = await countUnfinishedByKeys(db, keys);
          const done = Math.min(total, before + page.length - open);
          await ctx.progress(total ? (done / total) * 100 : 100, 'scan_all_finished', { done, count: total });
          if (open === 0) break;
          await sleep(pollMs, undefined, { signal: ctx.signal }).catch(() => undefined);
        }
        before += page.length;
        after = page[page.length - 1]!.id;
      }
      if (!total) await ctx.progress(100, 'scan_all_finished', { done: 0, count: 0 });
      await ctx.log('scan_all_finished', { count: total });
      return { artifacts: total, queued };
    },
  };
}

/** A scan job that failed for good leaves the artifact's report saying so (the original design's in-process hook). */
export function markFailedScans(db: DB, scans: Pick<ScanService, 'markFailed'>): (e: JobEvent) => Promise<void> {
  return async (e) => {
    if (e.job.type !== SCAN_IMAGE || e.to !== 'error') return;
    const p = e.job.payload as Partial<ScanPayload>;
    if (typeof p.repository !== 'string' || typeof p.digest !== 'string') return;
    const artifactId = typeof p.artifactId === 'number' ? p.artifactId : (await findArtifactByRepositoryName(db, p.repository, p.digest))?.id;
    if (artifactId !== undefined) await scans.markFailed(artifactId, e.job.error ?? 'scan failed');
  };
}
