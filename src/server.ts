import http, { type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv, Services } from './context.js';
import { createRegistryProxy } from './registry/proxy.js';

/**
 * The one public listener: `/v2` goes to the streaming registry proxy on raw node:http (no web-stream conversion
 * on the blob path); everything else to the Hono app.
 */
export function createHttpServer(services: Services, app: Hono<AppEnv>): Server {
  const honoListener = getRequestListener(app.fetch);
  const proxy = createRegistryProxy({
    upstream: () => services.registry.url(),
    externalUrl: services.config.externalUrl,
    trustProxy: services.config.trustProxy,
    log: services.log,
    policies: services.registry.policies,
  });
  const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, (req, res) => {
    const url = req.url ?? '/';
    if (url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?')) {
      void proxy(req, res);
      return;
    }
    void honoListener(req, res);
  });
  return server;
}
