import { TAG_RETENTION, type RetentionRunPayload, type RetentionService } from '../../services/retention-service.js';
import { retentionPayload } from '../payloads.js';
import type { JobType } from '../runner.js';

export { TAG_RETENTION };

/** One retention run of one project (dry or real), with progress and a log line per deletion. */
export function retentionJob(retention: RetentionService): JobType<RetentionRunPayload> {
  return {
    name: TAG_RETENTION,
    payload: retentionPayload,
    maxAttempts: 1,
    timeoutMs: 2 * 60 * 60_000,
    concurrency: 1,
    priority: 1,
    keepHistory: 500,
    run: (ctx) => retention.execute(ctx.payload, ctx),
  };
}
