import type { Logger } from '../log.js';
import { OutboundError, type OutboundClient } from '../net/outbound.js';
import { signatureHeader } from '../net/webhook-send.js';
import type { JobEvent } from './runner.js';

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

/**
 * Outbound webhooks for job status changes: a global URL and/or one per job. JSON with id, type, status and times,
 * signed `X-Berth-Signature: sha256=<hex HMAC of the body>`, retried with backoff (1 s, 2 s, 4 s) in the background.
 */
export class JobWebhooks {
  constructor(
    private readonly log: Logger,
    private readonly globalUrl: string | undefined,
    private readonly secret: string | undefined,
    private readonly http: OutboundClient,
    private readonly retryDelaysMs = [1000, 2000, 4000],
  ) {}

  /** The listener to register with the runner. */
  readonly listener = (e: JobEvent): void => {
    const urls = [this.globalUrl, e.job.hookUrl].filter((u): u is string => !!u);
    if (!urls.length) return;
    const body = JSON.stringify({
      id: e.job.id,
      type: e.job.type,
      status: e.to,
      previous_status: e.from,
      attempt: e.job.attempt,
      error: e.to === 'error' ? e.job.error : null,
      created_at: iso(e.job.createdAt),
      started_at: iso(e.job.startedAt),
      finished_at: iso(e.job.finishedAt),
      sent_at: new Date().toISOString(),
    });
    for (const url of new Set(urls)) void this.deliver(url, body);
  };

  private async deliver(url: string, body: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'berth-job-hooks' };
    if (this.secret) headers['x-berth-signature'] = signatureHeader(this.secret, body);
    for (let i = 0; i <= this.retryDelaysMs.length; i++) {
      try {
        // Through the outbound policy; redirects are never followed (a 3xx counts as refused).
        const res = await this.http.request(url, { method: 'POST', headers, body, timeoutMs: 5000, maxBytes: 64 * 1024 });
        if (res.status >= 200 && res.status < 300) return;
        if (res.status < 500 && res.status !== 429) break; // the receiver refuses it: retrying will not help
      } catch (err) {
        if (err instanceof OutboundError && (err.kind === 'denied' || err.kind === 'bad_url')) {
          this.log.warn({ url: new URL(url).origin, reason: err.message }, 'job webhook refused by the outbound policy');
          return;
        }
        /* network error: retry */
      }
      const delay = this.retryDelaysMs[i];
      if (delay === undefined) break;
      await new Promise((r) => setTimeout(r, delay).unref());
    }
    this.log.warn({ url: new URL(url).origin }, 'job webhook not delivered');
  }
}
