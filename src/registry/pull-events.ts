import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { ServedManifest } from './proxy.js';

/**
 * Pull events for the manifests Berth served from storage itself (src/registry/manifest-store.ts): the registry saw
 * those GETs, so it sends no notification; this writes the event it would have sent (the shape of distribution's
 * notifications/event.go, as in the registry-events fixtures) into the same durable inbox, so the access log, pull
 * counts and pull webhooks see every pull exactly as before. Events are batched: one envelope per `flushMs` (default
 * 100 ms) or per `maxBatch` events, as the registry batches its own; `flush()` writes what is pending (shutdown).
 */
export function createPullRecorder(opts: {
  /** the inbox's envelope entry point (RegistrySync.receive) */
  receive: (envelope: { events: unknown[] }) => Promise<unknown>;
  /** the public host the registry would report (`request.host`) */
  host: string;
  log: Logger;
  flushMs?: number;
  maxBatch?: number;
}) {
  const flushMs = opts.flushMs ?? 100;
  const maxBatch = opts.maxBatch ?? 500;
  let pending: unknown[] = [];
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!pending.length) return writing;
    const events = pending;
    pending = [];
    writing = writing.then(() =>
      opts.receive({ events }).then(
        () => undefined,
        (err: unknown) => opts.log.error({ err, events: events.length }, 'could not store pull events for manifests served from storage'),
      ),
    );
    return writing;
  };

  return {
    record(p: ServedManifest): void {
      pending.push({
        id: randomUUID(),
        timestamp: new Date(p.at).toISOString(),
        action: 'pull',
        target: {
          mediaType: p.manifest.mediaType,
          size: p.manifest.body.length,
          digest: p.manifest.digest,
          length: p.manifest.body.length,
          repository: p.repository,
          ...(p.tag === undefined ? {} : { tag: p.tag }),
        },
        request: { id: randomUUID(), addr: p.clientIp, host: opts.host, method: 'GET', useragent: p.userAgent.slice(0, 1024) },
        actor: { name: p.actor },
        source: { addr: 'berth', instanceID: 'berth-core' },
      });
      if (pending.length >= maxBatch) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), flushMs);
        timer.unref();
      }
    },
    flush,
  };
}
