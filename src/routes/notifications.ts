import { Hono } from 'hono';
import type { AppEnv, Services } from '../context.js';
import { AppError } from '../errors.js';
import { constantTimeEqual } from './middleware.js';

const ENVELOPE = 'application/vnd.docker.distribution.events.v1+json';

/**
 * `/service/notifications`: the registry's webhook. The shared secret is compared in constant time; events are stored
 * durably (idempotent on event id) before the 200, and applied afterwards, in order.
 */
export function notificationRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const expected = `Bearer ${services.registry.notificationSecret}`;
  r.post('/notifications', async (c) => {
    if (!constantTimeEqual(c.req.header('authorization') ?? '', expected)) throw new AppError('UNAUTHORIZED', 'notification secret required');
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== ENVELOPE && type !== 'application/json') throw new AppError('UNSUPPORTED', `expected Content-Type: ${ENVELOPE}`);
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw new AppError('BAD_REQUEST', 'malformed JSON');
    }
    let result;
    try {
      result = await services.registry.sync.receive(body);
    } catch (err) {
      if (err instanceof Error && /envelope|malformed event/.test(err.message)) throw new AppError('BAD_REQUEST', err.message);
      throw err;
    }
    return c.json(result);
  });
  return r;
}
