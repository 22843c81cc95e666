import { Hono } from 'hono';
import type { AppEnv, Services } from '../context.js';
import { AppError } from '../errors.js';
import { MAX_ENVELOPE_BYTES } from '../services/registry-sync.js';
import { constantTimeEqual } from './middleware.js';

const ENVELOPE = 'application/vnd.docker.distribution.events.v1+json';

/** The body, or null past `limit` bytes (the rest is not read). */
async function readBounded(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Buffer | null> {
  if (!body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * `/service/notifications`: the registry's webhook. The shared secret is compared in constant time; events are stored
 * durably (idempotent on event id) before the 200, and applied afterwards, in order. Content is never refused: the
 * registry retries a refused envelope forever and holds every later event behind it, so an envelope that cannot be
 * read (over {@link MAX_ENVELOPE_BYTES}, not JSON) or an unusable event is logged, counted and acknowledged.
 */
export function notificationRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const expected = `Bearer ${services.notificationSecret}`;
  r.post('/notifications', async (c) => {
    if (!constantTimeEqual(c.req.header('authorization') ?? '', expected)) throw new AppError('UNAUTHORIZED', 'notification secret required');
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== ENVELOPE && type !== 'application/json') throw new AppError('UNSUPPORTED', `expected Content-Type: ${ENVELOPE}`);
    const sync = services.sync;
    const skipped = { stored: 0, duplicates: 0, ignored: 0, skipped: 1 };
    const raw = await readBounded(c.req.raw.body, MAX_ENVELOPE_BYTES);
    if (raw === null) {
      sync.noteUnreadable(`envelope larger than ${MAX_ENVELOPE_BYTES} bytes`);
      return c.json(skipped);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      sync.noteUnreadable('envelope is not JSON');
      return c.json(skipped);
    }
    return c.json(await sync.receive(body));
  });
  return r;
}
