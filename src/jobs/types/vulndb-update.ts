import { z } from 'zod';
import type { AdvisoryStore } from '../../scanner/advisory-store.js';
import type { JobType } from '../runner.js';

export const VULNDB_UPDATE = 'vulndb-update';

const MAX_FEED_BYTES = 1024 * 1024 * 1024;

/**
 * Downloads the configured OSV feeds (zip files as osv.dev publishes per ecosystem, or JSON) and imports them.
 * With no feed configured (an offline site), it succeeds doing nothing: offline import is the other way in.
 */
export function vulndbUpdateJob(store: AdvisoryStore, urls: readonly string[]): JobType<{ reason?: string }> {
  return {
    name: VULNDB_UPDATE,
    payload: z.object({ reason: z.string().max(64).optional(), by: z.string().max(255).optional() }),
    maxAttempts: 3,
    timeoutMs: 2 * 60 * 60_000,
    concurrency: 1,
    priority: 5,
    keepHistory: 200,
    async run(ctx) {
      if (!urls.length) {
        await ctx.log('no feed URLs configured (BERTH_VULNDB_URLS): nothing to download');
        return { feeds: 0 };
      }
      const totals = { feeds: 0, imported: 0, updated: 0, withdrawn: 0, invalid: 0 };
      for (const [i, url] of urls.entries()) {
        ctx.signal.throwIfAborted();
        await ctx.progress((i / urls.length) * 100, `downloading ${new URL(url).pathname.split('/').pop()}`);
        const res = await fetch(url, { signal: ctx.signal, redirect: 'follow' });
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
        if (Number(res.headers.get('content-length') ?? 0) > MAX_FEED_BYTES) throw new Error(`${url}: larger than ${MAX_FEED_BYTES} bytes`);
        const body = Buffer.from(await res.arrayBuffer());
        const isZip = body[0] === 0x50 && body[1] === 0x4b;
        const stats = isZip ? await store.importZip(body) : await store.importValues([JSON.parse(body.toString('utf8'))]);
        await ctx.log(`${url}: ${stats.imported} new, ${stats.updated} updated, ${stats.withdrawn} withdrawn, ${stats.unchanged} unchanged, ${stats.invalid} invalid`);
        totals.feeds++;
        totals.imported += stats.imported;
        totals.updated += stats.updated;
        totals.withdrawn += stats.withdrawn;
        totals.invalid += stats.invalid;
      }
      return totals;
    },
  };
}
