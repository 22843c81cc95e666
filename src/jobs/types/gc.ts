import { z } from 'zod';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { RegistryHandle } from '../../context.js';
import type { PolicyService } from '../../services/policy-service.js';
import { PermanentError, type JobType } from '../runner.js';
import type { JobQueue } from '../queue.js';
import { RECONCILE } from './reconcile.js';
import { blobsDir, repositoriesDir } from '../../registry/storage.js';

export const GARBAGE_COLLECTION = 'gc';

export const gcPayload = z.object({ dryRun: z.boolean().optional(), deleteUntagged: z.boolean().optional() });
export type GcPayload = z.infer<typeof gcPayload>;

export interface GcOptions {
  bin: string;
  /** the registry's config file and storage root when core shares them (managed mode, or compose's shared volume) */
  target: () => { configPath: string; storageDir: string } | null;
  /** how long to wait for uploads in flight before collecting anyway */
  drainMs?: number;
}

/** Every blob file in the registry's storage, with its size. */
export function listBlobs(storageDir: string): Map<string, number> {
  const out = new Map<string, number>();
  const root = blobsDir(storageDir);
  let prefixes: string[] = [];
  try {
    prefixes = fs.readdirSync(root);
  } catch {
    return out;
  }
  for (const p of prefixes) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(path.join(root, p));
    } catch {
      continue;
    }
    for (const hex of entries) {
      try {
        out.set(`sha256:${hex}`, fs.statSync(path.join(root, p, hex, 'data')).size);
      } catch {
        /* a half-written or half-deleted blob: not counted */
      }
    }
  }
  return out;
}

/**
 * Garbage collection that never breaks a stored image. The registry's own `garbage-collect` takes no lock and is
 * unsafe while clients push (REGISTRY-NOTES), so: /v2 writes go read-only (a retryable 503, shared by all replicas
 * through the DB, with an expiry renewed while GC runs so a crash cannot leave it stuck); uploads in flight drain
 * (bounded); GC runs; read-only lifts. The registry runs without a blob descriptor cache, so nothing stale survives
 * and no restart is needed. Bytes freed are measured on storage before and after (dry run: what GC would delete).
 */
export function gcJob(registry: RegistryHandle, policy: PolicyService, queue: JobQueue, opts: GcOptions): JobType<GcPayload> {
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
      if (!target) throw new PermanentError('garbage collection needs the registry config and storage (managed registry, or BERTH_REGISTRY_CONFIG and BERTH_REGISTRY_STORAGE)');
      const dryRun = !!ctx.payload.dryRun;
      const deleteUntagged = !!ctx.payload.deleteUntagged;
      const started = Date.now();
      // An empty registry has no repositories directory, and garbage-collect fails on that: nothing to collect.
      if (!fs.existsSync(repositoriesDir(target.storageDir))) {
        await ctx.log('the registry holds no repositories yet: nothing to collect');
        return { dryRun, deleteUntagged, blobsBefore: listBlobs(target.storageDir).size, blobsDeleted: 0, bytesFreed: 0, durationMs: Date.now() - started };
      }
      let renew: NodeJS.Timeout | null = null;
      try {
        if (!dryRun) {
          const hold = () => policy.setReadOnly({ reason: 'garbage collection', until: Date.now() + 60_000, jobId: ctx.id });
          await hold();
          renew = setInterval(() => void hold().catch(() => undefined), 20_000);
          await ctx.log('registry writes are read-only; waiting for uploads in flight');
          await new Promise((r) => setTimeout(r, 1100)); // other replicas' read-only cache lives one second
          const deadline = Date.now() + (opts.drainMs ?? 60_000);
          while ((registry.writes.inflight > 0 || Date.now() - registry.writes.lastEndedAt < 1000) && Date.now() < deadline) {
            ctx.signal.throwIfAborted();
            await new Promise((r) => setTimeout(r, 200));
          }
          if (registry.writes.inflight > 0) await ctx.log(`${registry.writes.inflight} write(s) still in flight after the drain: they will fail and can be retried`, 'warn');
        }
        await ctx.progress(10, 'collecting');
        const before = listBlobs(target.storageDir);
        const args = ['garbage-collect', ...(dryRun ? ['--dry-run'] : []), ...(deleteUntagged ? ['--delete-untagged'] : []), target.configPath];
        const output = await runGc(opts.bin, args, ctx.signal);
        const after = dryRun ? before : listBlobs(target.storageDir);
        const eligible = dryRun ? [...output.matchAll(/blob eligible for deletion: (sha256:[a-f0-9]{64})/g)].map((m) => m[1]!) : [...before.keys()].filter((d) => !after.has(d));
        const bytes = eligible.reduce((n, d) => n + (before.get(d) ?? 0), 0);
        const summary = output.split('\n').find((l) => /blobs marked/.test(l))?.trim();
        if (summary) await ctx.log(summary.slice(0, 500));
        await ctx.log(`${dryRun ? 'would free' : 'freed'} ${eligible.length} blob(s), ${bytes} bytes`);
        await ctx.progress(90, 'done collecting');
        return { dryRun, deleteUntagged, blobsBefore: before.size, blobsDeleted: eligible.length, bytesFreed: bytes, durationMs: Date.now() - started };
      } finally {
        if (renew) clearInterval(renew);
        if (!dryRun) {
          await policy.setReadOnly(null);
          await ctx.log('registry writes are open again');
          // --delete-untagged removes manifests behind the DB's back: reconcile.
          if (deleteUntagged) await queue.enqueue(RECONCILE, { reason: 'after gc' });
        }
      }
    },
  };
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
