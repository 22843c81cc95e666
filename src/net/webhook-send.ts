import { createHmac } from 'node:crypto';
import { OutboundError, type OutboundClient } from './outbound.js';

/** The `X-Berth-Signature` value of a body: `sha256=<hex HMAC-SHA256 of the exact bytes sent>` (job and project webhooks). */
export const signatureHeader = (secret: string, body: string | Buffer): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** whole request, connect to last byte of the answer */
  timeoutMs: number;
  skipTlsVerify?: boolean;
  signal?: AbortSignal;
}

export interface WebhookResponse {
  /** HTTP status, or null when no answer came (refused, reset, timeout, TLS) */
  status: number | null;
  latencyMs: number;
  error: string | null;
}

/** Bytes of a receiver's answer read before the rest is dropped: the answer is logged by status only. */
const MAX_ANSWER = 64 * 1024;

/**
 * The one place project webhooks leave Berth: a POST through Berth's outbound client (the address policy against
 * SSRF, no redirects, a timeout), reading at most 64 KiB of the answer, never throwing (the outcome is the result).
 * Errors are Berth's own words (refused by the policy, timeout, connection failed), never the receiver's answer.
 */
export async function postWebhook(req: WebhookRequest, client: OutboundClient): Promise<WebhookResponse> {
  const started = performance.now();
  const done = (status: number | null, error: string | null): WebhookResponse => ({ status, latencyMs: Math.round(performance.now() - started), error: error?.slice(0, 1000) ?? null });
  try {
    const res = await client.request(req.url, {
      method: 'POST',
      headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) },
      body: req.body,
      timeoutMs: req.timeoutMs,
      maxBytes: MAX_ANSWER,
      signal: req.signal,
      insecureTls: req.skipTlsVerify,
    });
    return done(res.status, null);
  } catch (err) {
    // An answer longer than we read still has a status worth logging; everything else has none.
    if (err instanceof OutboundError) return done(null, err.message);
    return done(null, 'delivery failed');
  }
}
