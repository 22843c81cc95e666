import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import type { DB } from '../../db/connect.js';
import { manualPayload, scanPayload } from '../payloads.js';
import { unfinishedJobIds } from '../../db/repos/job-progress.js';
import { findArtifactByRepositoryName, listTopLevelArtifacts } from '../../db/repos/artifacts.js';
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

/**
 * Enqueues a scan of every top-level artifact (index children are scanned through their index) at bulk priority,
 * then waits for those scans: its progress counts scans that *finished* (queueing 100k scans is quick; the scans
 * are the work). Stopping it stops the enqueueing and the waiting: it checks its AbortSignal before each step.
 * `pollMs`: how often it counts finished scans (1 s).
 */
export function scanAllJob(db: DB, opts: { pollMs?: number } = {}): JobType<{ reason?: string }> {
  const pollMs = opts.pollMs ?? 1000;
  return {
    name: SCAN_ALL,
    payload: manualPayload,
    maxAttempts: 1,
    timeoutMs: 6 * 60 * 60_000,
    concurrency: 1,
    priority: PRIORITY_BULK,
    keepHistory: 200,
    async run(ctx) {
      const rows = await listTopLevelArtifacts(db);
      let queued = 0;
      const ids: number[] = [];
      for (const [i, r] of rows.entries()) {
        ctx.signal.throwIfAborted();
        const { id, created } = await enqueueScan(ctx, { id: r.id, repository: r.repository, digest: r.digest }, { reason: 'scan-all', priority: PRIORITY_BULK });
        ids.push(id);
        if (created) queued++;
        if (i % 100 === 0) await ctx.progress(0, 'scan_all_queueing', { done: i + 1, total: rows.length });
      }
      await ctx.log(queued < rows.length ? 'scan_all_queued_busy' : 'scan_all_queued', { queued, total: rows.length, busy: rows.length - queued });
      // A scan that was already queued (a push's) counts too: scan-all is done when every artifact has been scanned.
      let remaining = ids;
      for (;;) {
        ctx.signal.throwIfAborted();
        remaining = await unfinishedJobIds(db, remaining);
        const done = ids.length - remaining.length;
        await ctx.progress(ids.length ? (done / ids.length) * 100 : 100, 'scan_all_finished', { done, count: ids.length });
        if (remaining.length === 0) break;
        await sleep(pollMs, undefined, { signal: ctx.signal }).catch(() => undefined);
      }
      await ctx.log('scan_all_finished', { count: ids.length });
      return { artifacts: rows.length, queued };
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
