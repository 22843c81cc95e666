import http from 'node:http';
import https from 'node:https';

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
 * The one place project webhooks leave Berth: a POST that never follows redirects, reads at most 64 KiB of the answer
 * and never throws (the outcome is the result). Only http(s) targets are accepted.
 *
 * The address policy against SSRF (which destinations are allowed) belongs to Berth's shared outbound helper; this
 * function is the single call to switch over to it.
 */
export function postWebhook(req: WebhookRequest): Promise<WebhookResponse> {
  const started = performance.now();
  const done = (status: number | null, error: string | null): WebhookResponse => ({ status, latencyMs: Math.round(performance.now() - started), error: error?.slice(0, 1000) ?? null });
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return Promise.resolve(done(null, 'invalid URL'));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.resolve(done(null, 'only http and https targets are allowed'));
  const body = Buffer.from(req.body, 'utf8');
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: WebhookResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const mod = url.protocol === 'https:' ? https : http;
    const r = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...req.headers, 'content-length': String(body.length) },
        ...(url.protocol === 'https:' ? { rejectUnauthorized: !req.skipTlsVerify } : {}),
        agent: false,
      },
      (res) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER) res.destroy();
        });
        const end = () => finish(done(res.statusCode ?? null, null));
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
      },
    );
    const timer = setTimeout(() => {
      r.destroy(new Error(`no answer within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    const onAbort = () => r.destroy(new Error('aborted'));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.on('error', (err: NodeJS.ErrnoException) => finish(done(null, err.code ? `${err.code}: ${err.message}` : err.message)));
    r.end(body);
  });
}
