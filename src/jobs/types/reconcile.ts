import { manualPayload } from '../payloads.js';
import type { RegistrySync } from '../../services/registry-sync.js';
import type { JobType } from '../runner.js';

export const RECONCILE = 'reconcile';

/** Recounts the severity counters, walks the registry's catalog and tags and repairs the DB (see RegistrySync.reconcile). */
export function reconcileJob(sync: RegistrySync): JobType<{ reason?: string }> {
  return {
    name: RECONCILE,
    payload: manualPayload,
    maxAttempts: 3,
    timeoutMs: 60 * 60_000,
    concurrency: 1,
    priority: 0,
    keepHistory: 200,
    async run(ctx) {
      // Counters first: the recount needs only the database, so an unreachable registry does not keep them drifted.
      const counters = await sync.recountCounters();
      await ctx.log('reconcile_walking');
      const s = { ...(await sync.reconcile()), ...counters };
      await ctx.log('reconcile_done', {
        repositories: s.repositories,
        added: s.artifactsAdded,
        removed: s.artifactsRemoved,
        tagsSet: s.tagsSet,
        tagsRemoved: s.tagsRemoved,
        recounted: s.countersRecounted,
        repaired: s.countersRepaired,
        repositoriesRepaired: s.repositoryCountsRepaired,
      });
      return s;
    },
  };
}
