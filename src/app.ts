import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import type { AppEnv, Services } from './context.js';
import { AppError } from './errors.js';
import { familyLabel } from './metrics.js';
import { runHealth } from './routes/api/v1/health.js';
import { apiV1 } from './routes/api/v1/index.js';
import { constantTimeEqual } from './routes/middleware.js';
import { streamingBodyLimit } from './routes/body.js';
import { notificationRoutes } from './routes/notifications.js';
import { tokenRoutes } from './routes/token.js';
import { uiRoutes, renderErrorPage } from './routes/ui/index.js';
import { apiDocsRoutes } from './routes/api-docs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const HTMX_FILE = require.resolve('htmx.org/dist/htmx.min.js');

/** Paths whose errors use the registry's JSON shape; everything else is the UI. */
const isMachinePath = (p: string) => p.startsWith('/api/') || p.startsWith('/v2') || p.startsWith('/service/');

export const API_BODY_LIMIT = 1024 * 1024;
export const UI_BODY_LIMIT = 256 * 1024;

/** Builds the Hono app: middleware, one error renderer, the route modules. */
export function createApp(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { log } = services;

  app.use(requestId({ headerName: 'X-Request-Id', generator: () => crypto.randomUUID() }));
  app.use(async (c, next) => {
    c.set('services', services);
    const started = performance.now();
    await next();
    // Answered without reading the body (a refusal, a redirect): close rather than read what the client keeps sending.
    if (c.req.raw.body && !c.req.raw.bodyUsed) c.header('Connection', 'close');
    c.header('X-Content-Type-Options', 'nosniff');
    if (!c.req.path.startsWith('/v2')) {
      c.header('Referrer-Policy', 'same-origin');
      if ((c.res.headers.get('content-type') ?? '').startsWith('text/html')) {
        c.header('X-Frame-Options', 'DENY');
        c.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'");
      }
    }
    const ms = performance.now() - started;
    services.metrics.httpDuration.observe({ family: familyLabel(c.req.path), method: c.req.method, status: String(c.res.status) }, ms / 1000);
    log.info({ reqId: c.get('requestId'), method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(ms) }, 'request');
  });

  // Body limits count the bytes as they are read and never buffer; advisory uploads are received by their routes
  // after the admin check (src/routes/body.ts), so no limit applies to them here.
  app.use(
    '*',
    streamingBodyLimit((c) => {
      const p = c.req.path;
      if (p === '/api/v1/vulndb/import' || p === '/vulndb/import') return null;
      // The notification inbox bounds its own reads (it must acknowledge, never refuse, what the registry sends).
      if (p === '/service/notifications') return null;
      return p.startsWith('/api/') || p.startsWith('/service/') ? API_BODY_LIMIT : UI_BODY_LIMIT;
    }),
  );

  app.get('/static/vendor/htmx.min.js', (c) => {
    c.header('Cache-Control', 'public, max-age=86400');
    return c.body(fs.readFileSync(HTMX_FILE), 200, { 'Content-Type': 'text/javascript; charset=utf-8' });
  });
  app.get('/static/*', (c) => {
    const rel = c.req.path.slice('/static/'.length);
    if (!/^[a-z0-9][a-z0-9_./-]*\.(css|js|svg|png|ico)$/.test(rel) || rel.includes('..')) return c.notFound();
    const file = path.join(ROOT, 'static', rel);
    if (!fs.existsSync(file)) return c.notFound();
    const type = { css: 'text/css', js: 'text/javascript', svg: 'image/svg+xml', png: 'image/png', ico: 'image/x-icon' }[rel.split('.').pop()!]!;
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(fs.readFileSync(file), 200, { 'Content-Type': `${type}; charset=utf-8` });
  });

  app.get('/livez', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const { ok, components } = await runHealth(services);
    c.header('Cache-Control', 'no-store');
    return c.json({ status: ok ? 'ok' : 'unavailable', components }, ok ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const want = services.config.metricsToken;
    if (want && !constantTimeEqual(c.req.header('authorization') ?? '', `Bearer ${want}`)) {
      return c.json({ errors: [{ code: 'UNAUTHORIZED', message: 'metrics token required' }] }, 401, { 'WWW-Authenticate': 'Bearer realm="berth-metrics"' });
    }
    return c.body(await services.metrics.registry.metrics(), 200, { 'Content-Type': services.metrics.registry.contentType });
  });
  app.route('/service', tokenRoutes(services));
  app.route('/service', notificationRoutes(services));
  app.route('/api/docs', apiDocsRoutes());
  app.route('/api/v1', apiV1(services));
  app.route('/', uiRoutes(services));

  app.notFound((c) => {
    if (isMachinePath(c.req.path)) return c.json({ errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] }, 404);
    return renderErrorPage(c, 404, new AppError('NOT_FOUND', 'Page not found', undefined, { key: 'page_not_found' }));
  });

  app.onError((err, c) => {
    const reqId = c.get('requestId');
    let appErr: AppError;
    if (err instanceof AppError) appErr = err;
    else if (err instanceof HTTPException && err.status < 500) appErr = new AppError(err.status === 413 ? 'TOO_LARGE' : 'BAD_REQUEST', err.message || 'bad request');
    else {
      log.error({ err, reqId, path: c.req.path }, 'unhandled error');
      appErr = new AppError('INTERNAL', `internal error (request id ${reqId})`);
    }
    if (appErr.status >= 500 && err instanceof AppError) log.error({ err, reqId }, 'server error');
    // An answer given before the body was read (refused, too large) leaves the rest of it unread on the connection:
    // close it rather than read what the client keeps sending.
    if (appErr.status === 413 || (c.req.raw.body && !c.req.raw.bodyUsed)) c.header('Connection', 'close');
    if (appErr.options.retryAfterSeconds !== undefined) c.header('Retry-After', String(appErr.options.retryAfterSeconds));
    if (isMachinePath(c.req.path)) {
      if (appErr.status === 401 && c.req.path.startsWith('/api/')) c.header('WWW-Authenticate', 'Basic realm="Berth"');
      if (appErr.status === 429) c.header('Retry-After', '900');
      return c.json({ errors: [{ code: appErr.code, message: appErr.message, ...(appErr.detail !== undefined ? { detail: appErr.detail } : {}) }] }, appErr.status as 400);
    }
    return renderErrorPage(c, appErr.status, appErr);
  });

  return app;
}
