import type { z } from 'zod';
import { gcPayload } from '../payloads.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { WriteTracker } from '../../registry/proxy.js';
import type { RegistrySync } from '../../services/registry-sync.js';
import type { DB } from '../../db/connect.js';
import type { DeletionService } from '../../services/deletion-service.js';
import type { WriteDrain } from '../../services/write-drain.js';
import { planUntagged, type Unreferenced } from '../../services/gc-planner.js';
import type { PolicyService } from '../../services/policy-service.js';
import { KeyedFailure, type JobContext, type JobType } from '../runner.js';
import type { JobQueue } from '../queue.js';
import { listBlobs, repositoriesDir } from '../../registry/storage.js';
import { SHA256_HEX } from '../../registry/reference.js';

export const GARBAGE_COLLECTION = 'gc';

export { gcPayload };
export type GcPayload = z.infer<typeof gcPayload>;

/** What GC needs of registry sync: events already received applied, then the tags reconciled, before it decides. */
export type GcSync = Pick<RegistrySync, 'idle' | 'reconcile'>;

export interface GcOptions {
  bin: string;
  /** the registry's config file and storage root when core shares them (managed mode, or compose's shared volume) */
  target: () => { configPath: string; storageDir: string } | null;
  /** how long to wait for uploads in flight before collecting anyway */
  drainMs?: number;
  /** for "delete untagged": the DB Berth decides from, and the deletion service that removes each manifest */
  untagged?: { db: DB; deletion: DeletionService };
  /** registry writes in flight on every replica (through the DB); without it, only this process's are drained */
  drain?: WriteDrain;
}

/** The registry's dry-run line naming a blob it would delete (distribution registry/storage/garbagecollect.go). */
const ELIGIBLE_BLOB = new RegExp(`blob eligible for deletion: (sha256:${SHA256_HEX})`, 'g');

const GC_ACTOR = { name: 'garbage-collection', ip: '' };

/**
 * Garbage collection that never breaks a stored image. The registry's own `garbage-collect` takes no lock and is
 * unsafe while clients push (REGISTRY-NOTES), so: /v2 writes go read-only (a retryable 503, shared by all replicas
 * through the DB, with an expiry renewed while GC runs so a crash cannot leave it stuck); uploads in flight drain
 * (bounded); GC runs; read-only lifts. The registry runs without a blob descriptor cache, so nothing stale survives
 * and no restart is needed. Bytes freed are measured on storage before and after (dry run: what GC would delete).
 *
 * "Delete untagged" is Berth's decision, never the registry's: distribution 2.8's `--delete-untagged` counts an
 * index's children as untagged and deletes them, breaking every multi-arch image. Berth deletes exactly the manifests
 * nothing refers to (see {@link planUntagged}) through the deletion service, then runs `garbage-collect` without
 * that flag, so it only frees blobs no remaining manifest links.
 */
export function gcJob(sync: GcSync, localWrites: WriteTracker, policy: PolicyService, _queue: JobQueue, opts: GcOptions): JobType<GcPayload> {
  return {
    name: GARBAGE_COLLECTION,
    payload: gcPayload,
    maxAttempts: 1,
    timeoutMs: 4 * 60 * 60_000,
    concurrency: 1,
    priority: 5,
    keepHistory: 200,
    async run(ctx) {
      const target = opts.target();
      if (!target) throw new KeyedFailure('gc_needs_storage', {}, true);
      const dryRun = !!ctx.payload.dryRun;
      const deleteUntagged = !!ctx.payload.deleteUntagged;
      if (deleteUntagged && !opts.untagged) throw new KeyedFailure('gc_needs_deletion_service', {}, true);
      const started = Date.now();
      // An empty registry has no repositories directory, and garbage-collect fails on that: nothing to collect.
      if (!fs.existsSync(repositoriesDir(target.storageDir))) {
        await ctx.log('gc_empty_registry');
        return { dryRun, deleteUntagged, blobsBefore: listBlobs(target.storageDir).size, blobsDeleted: 0, bytesFreed: 0, manifestsDeleted: 0, manifests: [], durationMs: Date.now() - started };
      }
      let renew: NodeJS.Timeout | null = null;
      try {
        if (!dryRun) {
          const hold = () => policy.setReadOnly({ reason: 'garbage collection', until: Date.now() + 60_000, jobId: ctx.id });
          await hold();
          renew = setInterval(() => void hold().catch(() => undefined), 20_000);
          await ctx.log('gc_read_only');
          await new Promise((r) => setTimeout(r, 1100)); // other replicas' read-only cache lives one second
          // Every replica's uploads, through the DB: one started on another core just before read-only counts too.
          const writes = () => (opts.drain ? opts.drain.everywhere() : Promise.resolve({ ...localWrites, replicas: 1 }));
          const deadline = Date.now() + (opts.drainMs ?? 60_000);
          let w = await writes();
          // Said once, so the job log shows what GC is waiting for (an upload, a deletion through REST, UI or retention).
          if (w.inflight > 0) await ctx.log('gc_waiting_writes', { inflight: w.inflight, replicas: w.replicas });
          while ((w.inflight > 0 || Date.now() - w.lastEndedAt < 1000) && Date.now() < deadline) {
            ctx.signal.throwIfAborted();
            await new Promise((r) => setTimeout(r, 200));
            w = await writes();
          }
          if (w.inflight > 0) await ctx.log('gc_inflight_after_drain', { inflight: w.inflight, replicas: w.replicas }, 'warn');
          else await ctx.log('gc_drained', { count: w.replicas });
        }
        let manifests: GcManifest[] = [];
        let estimate = new Map<string, number>();
        if (deleteUntagged) ({ manifests, estimate } = await deleteUnreferenced(ctx, sync, opts.untagged!, dryRun));
        await ctx.progress(10, 'gc_collecting');
        const before = listBlobs(target.storageDir);
        const args = ['garbage-collect', ...(dryRun ? ['--dry-run'] : []), target.configPath];
        const output = await runGc(opts.bin, args, ctx.signal);
        const after = dryRun ? before : listBlobs(target.storageDir);
        const eligible = dryRun
          ? [...new Set([...[...output.matchAll(ELIGIBLE_BLOB)].map((m) => m[1]!), ...[...estimate.keys()].filter((d) => before.has(d))])]
          : [...before.keys()].filter((d) => !after.has(d));
        const bytes = eligible.reduce((n, d) => n + (before.get(d) ?? 0), 0);
        const summary = output
          .split('\n')
          .find((l) => /blobs marked/.test(l))
          ?.trim();
        if (summary) await ctx.log('gc_registry_summary', { summary: summary.slice(0, 500) });
        await ctx.log(dryRun ? 'gc_would_free' : 'gc_freed', { count: eligible.length, bytes });
        await ctx.progress(90, 'gc_collected');
        return {
          dryRun,
          deleteUntagged,
          blobsBefore: before.size,
          blobsDeleted: eligible.length,
          bytesFreed: bytes,
          manifestsDeleted: dryRun ? 0 : manifests.filter((m) => m.deleted).length,
          // what went (or would go), with the bytes only it used; bounded for the job row
          manifests: manifests.slice(0, 1000).map((m) => ({ repository: m.repository, digest: m.digest, bytes: m.bytes, ...(dryRun ? {} : { deleted: !!m.deleted }) })),
          durationMs: Date.now() - started,
        };
      } finally {
        if (renew) clearInterval(renew);
        if (!dryRun) {
          await policy.setReadOnly(null);
          await ctx.log('gc_writes_open');
        }
      }
    },
  };
}

type GcManifest = Unreferenced & { bytes: number; deleted?: boolean };

/**
 * Decides which manifests nothing refers to and (unless a dry run) deletes them through the deletion service, one
 * request per repository so an unreferenced index goes with its children. Before deciding, events already received
 * are applied and the tags reconciled with the registry, so a tag Berth has not heard of yet keeps its manifest.
 * Returns the manifests with the bytes only they use, and those blobs with their sizes (the dry run's estimate).
 */
async function deleteUnreferenced(
  ctx: JobContext<GcPayload>,
  sync: GcSync,
  deps: { db: DB; deletion: DeletionService },
  dryRun: boolean,
): Promise<{ manifests: GcManifest[]; estimate: Map<string, number> }> {
  const { db, deletion } = deps;
  if (!dryRun) {
    await sync.idle();
    const r = await sync.reconcile();
    await ctx.log('gc_reconciled', { set: r.tagsSet, removed: r.tagsRemoved });
  }
  const plan = await planUntagged(db);
  const estimate = new Map(plan.uniqueBlobs);
  for (const m of plan.manifests) estimate.set(m.digest, m.manifestSize);
  const manifests: GcManifest[] = plan.manifests.map((m) => ({ ...m, bytes: m.manifestSize + [...m.blobs].reduce((n, d) => n + (plan.uniqueBlobs.get(d) ?? 0), 0) }));
  await ctx.log(dryRun ? 'gc_unreferenced_dry' : 'gc_unreferenced', { count: manifests.length });
  for (const m of manifests.slice(0, 50)) await ctx.log(dryRun ? 'gc_would_delete' : 'gc_deleting', { manifest: `${m.repository}@${m.digest}`, bytes: m.bytes });
  if (!dryRun) {
    const byRepo = new Map<string, GcManifest[]>();
    for (const m of manifests) byRepo.set(m.repository, [...(byRepo.get(m.repository) ?? []), m]);
    for (const [repo, list] of byRepo) {
      ctx.signal.throwIfAborted();
      try {
        const r = await deletion.deleteArtifacts(
          GC_ACTOR,
          repo,
          list.map((m) => m.digest),
          { reason: 'garbage collection', holdsReadOnly: true },
        );
        const gone = new Set(r.deleted.map((d) => d.digest));
        for (const m of list) m.deleted = gone.has(m.digest);
      } catch (err) {
        await ctx.log('gc_kept_repository', { repository: repo, error: (err as Error).message.slice(0, 900) }, 'warn');
      }
    }
  }
  return { manifests, estimate };
}

function runGc(bin: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    let out = '';
    const keep = (b: Buffer) => {
      if (out.length < 8 * 1024 * 1024) out += b.toString('utf8');
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const abort = () => child.kill('SIGTERM');
    signal.addEventListener('abort', abort, { once: true });
    child.on('error', reject);
    child.on('close', (code) => {
      signal.removeEventListener('abort', abort);
      if (signal.aborted) reject(new Error('garbage collection stopped'));
      else if (code === 0) resolve(out);
      else reject(new Error(`garbage-collect exited with ${code}: ${out.split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 500)}`));
    });
  });
}
