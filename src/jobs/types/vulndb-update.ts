import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { OutboundClient } from '../../net/outbound.js';
import { manualPayload } from '../payloads.js';
import type { AdvisoryStore } from '../../scanner/advisory-store.js';
import { KeyedFailure, type JobType } from '../runner.js';

export const VULNDB_UPDATE = 'vulndb-update';

const MAX_FEED_BYTES = 1024 * 1024 * 1024;

/**
 * Downloads the configured OSV feeds (zip files as osv.dev publishes per ecosystem, or JSON) and imports them.
 * With no feed configured (an offline site), it succeeds doing nothing: offline import is the other way in.
 */
export function vulndbUpdateJob(store: AdvisoryStore, urls: readonly string[], http: OutboundClient, tmpDir: string): JobType<{ reason?: string }> {
  return {
    name: VULNDB_UPDATE,
    payload: manualPayload,
    maxAttempts: 3,
    timeoutMs: 2 * 60 * 60_000,
    concurrency: 1,
    priority: 5,
    keepHistory: 200,
    async run(ctx) {
      if (!urls.length) {
        await ctx.log('vulndb_no_feeds');
        return { feeds: 0 };
      }
      const totals = { feeds: 0, imported: 0, updated: 0, withdrawn: 0, invalid: 0 };
      for (const [i, url] of urls.entries()) {
        ctx.signal.throwIfAborted();
        await ctx.progress((i / urls.length) * 100, 'downloading', { file: new URL(url).pathname.split('/').pop() ?? '' });
        // Through the outbound policy, no redirects, into a temporary file (feeds reach hundreds of MiB).
        fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
        const file = path.join(tmpDir, `feed-${randomBytes(12).toString('hex')}`);
        let stats;
        try {
          const res = await http.request(url, { signal: ctx.signal, timeoutMs: 60 * 60_000, maxBytes: MAX_FEED_BYTES, toFile: file });
          if (res.status !== 200) throw new KeyedFailure('vulndb_feed_http', { url, status: res.status });
          stats = await store.importFile(file);
        } finally {
          fs.rmSync(file, { force: true });
        }
        await ctx.log('vulndb_feed', { url, imported: stats.imported, updated: stats.updated, withdrawn: stats.withdrawn, unchanged: stats.unchanged, invalid: stats.invalid });
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
