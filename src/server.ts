import http, { type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv, Services } from './context.js';
import { ANSWERED_FROM_STORAGE, createRegistryProxy } from './registry/proxy.js';
import { readStoredManifest } from './registry/manifest-store.js';
import { createPullRecorder } from './registry/pull-events.js';
import { lingerBeforeClose } from './net/linger.js';
import { createV2Pipeline } from './registry/v2-pipeline.js';
import { createTokenListener } from './routes/token.js';
import { blobDataPath } from './registry/storage.js';

/**
 * The one public listener: `/v2` goes to the streaming registry proxy and `/service/token` to the token listener,
 * both on raw node:http (no web-stream conversion on the hot paths); everything else to the Hono app.
 */
export function createHttpServer(services: Services, app: Hono<AppEnv>): Server {
  const honoListener = getRequestListener(app.fetch);
  const pulls = createPullRecorder({ receive: (envelope) => services.sync.receive(envelope), host: new URL(services.config.externalUrl).host, log: services.log });
  const proxy = createRegistryProxy({
    upstream: () => services.registryUrl(),
    externalUrl: services.config.externalUrl,
    trustProxy: services.config.trustProxy,
    log: services.log,
    pipeline: createV2Pipeline({
      tokens: services.tokens,
      access: services.access,
      policy: services.policy,
      deletion: services.deletion,
      audit: services.audit,
      realm: `${services.config.externalUrl}/service/token`,
    }),
    referrers: services.referrers,
    writes: services.writes,
    onBytes: (direction, n) => services.metrics.v2Bytes.inc({ direction }, n),
    manifestStore: (repository, reference) => {
      const managed = services.managedRegistry();
      return managed ? readStoredManifest(managed.storageDir, repository, reference) : null;
    },
    onManifestServed: (pull) => pulls.record(pull),
    blobFile: (digest) => {
      const managed = services.managedRegistry();
      if (!managed) return null;
      return blobDataPath(managed.storageDir, digest);
    },
  });
  const tokens = createTokenListener(services);
  // One labelled child per (family, method, status): prom-client would hash the labels on every observation.
  const durations = new Map<string, { observe(seconds: number): void }>();
  const observeDuration = (family: 'v2' | 'token', method: string | undefined, status: number, seconds: number) => {
    const key = `${family} ${method} ${status}`;
    let child = durations.get(key);
    if (!child) {
      child = services.metrics.httpDuration.labels({ family, method: method ?? 'GET', status: String(status) });
      durations.set(key, child);
    }
    child.observe(seconds);
  };
  // 1 MiB stream buffers: with the 16 KiB default every 64 KiB socket read of a blob stalls on backpressure.
  const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000, highWaterMark: 1 << 20 }, (req, res) => {
    const url = req.url ?? '/';
    if (url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?')) {
      const started = performance.now();
      res.on('finish', () => {
        observeDuration('v2', req.method, res.statusCode, (performance.now() - started) / 1000);
        if (ANSWERED_FROM_STORAGE.has(res)) services.metrics.manifestsFromStorage.inc();
        // A manifest push, pull or delete the registry answered: it sends an event for it (stall detection).
        else if (
          url.includes('/manifests/') &&
          ((req.method === 'GET' && res.statusCode === 200) || (req.method === 'PUT' && res.statusCode === 201) || (req.method === 'DELETE' && res.statusCode === 202))
        ) {
          services.sync.noteRegistryActivity();
        }
      });
      void proxy(req, res);
      return;
    }
    if (url === '/service/token' || url.startsWith('/service/token?')) {
      const started = performance.now();
      res.on('finish', () => observeDuration('token', req.method, res.statusCode, (performance.now() - started) / 1000));
      void tokens(req, res);
      return;
    }
    lingerBeforeClose(req);
    void honoListener(req, res);
  });
  server.on('close', () => void pulls.flush());
  return server;
}
