import { WEBHOOK_DELIVERY, type DeliveryPayload, type WebhookService } from '../../services/webhook-service.js';
import { webhookPayload } from '../payloads.js';
import { KeyedFailure, type JobType } from '../runner.js';

export { WEBHOOK_DELIVERY };

/**
 * Delivers one event to one project webhook. A failure (no answer, 5xx, 408, 429) is retried with exponential backoff
 * starting at `retryMs` (5 minutes at most between tries, 20 tries); a 4xx refusal fails at once.
 */
export function webhookJob(webhooks: WebhookService, opts: { retryMs: number; maxAttempts?: number }): JobType<DeliveryPayload> {
  return {
    name: WEBHOOK_DELIVERY,
    payload: webhookPayload,
    maxAttempts: opts.maxAttempts ?? 20,
    timeoutMs: 60_000,
    concurrency: 4,
    keepHistory: 5000,
    backoffBaseMs: opts.retryMs,
    async run(ctx) {
      const out = await webhooks.deliver(ctx.payload, { jobId: ctx.id, attempt: ctx.attempt, signal: ctx.signal });
      if (out.skipped) {
        await ctx.log(out.skipReason === 'deleted' ? 'webhook_skipped_deleted' : 'webhook_skipped_disabled');
        return { skipped: out.skipped };
      }
      const r = out.response!;
      const what = r.status === null ? (r.error ?? 'no answer') : `HTTP ${r.status}`;
      if (out.ok) return { status: r.status, latency_ms: r.latencyMs };
      if (out.permanent) throw new KeyedFailure('webhook_refused', { what }, true);
      throw new KeyedFailure('webhook_not_delivered', { what });
    },
  };
}
