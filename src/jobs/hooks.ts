import { createHmac } from 'node:crypto';
import type { Logger } from '../log.js';
import type { JobEvent } from './runner.js';

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

/** The `X-Berth-Signature` value of a body: `sha256=<hex HMAC-SHA256 of the exact bytes sent>` (job and project webhooks). */
export const signatureHeader = (secret: string, body: string | Buffer): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/**
 * Outbound webhooks for job status changes: a global URL and/or one per job. JSON with id, type, status and times,
 * signed `X-Berth-Signature: sha256=<hex HMAC of the body>`, retried with backoff (1 s, 2 s, 4 s) in the background.
 */
export class JobWebhooks {
  constructor(
    private readonly log: Logger,
    private readonly globalUrl: string | undefined,
    private readonly secret: string | undefined,
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
        const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.ok) return;
        if (res.status < 500 && res.status !== 429) break; // the receiver refuses it: retrying will not help
      } catch {
        /* network error: retry */
      }
      const delay = this.retryDelaysMs[i];
      if (delay === undefined) break;
      await new Promise((r) => setTimeout(r, delay).unref());
    }
    this.log.warn({ url: new URL(url).origin }, 'job webhook not delivered');
  }
}
