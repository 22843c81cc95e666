import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DB } from './db/connect.js';
import { findAdvisoryDbUpdatedAt } from './db/repos/advisories.js';
import { countJobsByTypeAndStatus } from './db/repos/jobs.js';
import { FINAL_STATES, isJobStatus } from './jobs/states.js';
import { inboxBacklog } from './db/repos/notification-inbox.js';
import type { RegistrySync } from './services/registry-sync.js';

/** Route families for HTTP metrics: bounded label values, never raw paths (which carry names and digests). */
export function routeFamily(path: string): string {
  if (path.startsWith('/v2')) return 'v2';
  if (path.startsWith('/service/token')) return 'token';
  if (path.startsWith('/service/notifications')) return 'notifications';
  if (path.startsWith('/api/v1/')) return `api:${path.split('/')[3] ?? ''}`.slice(0, 40);
  if (path.startsWith('/static/')) return 'static';
  if (path === '/metrics' || path === '/livez' || path === '/readyz') return 'probe';
  return 'ui';
}

const API_FAMILIES = new Set(['health', 'users', 'projects', 'robots', 'system', 'jobs', 'schedules', 'audit-logs', 'vulndb']);

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'family' | 'method' | 'status'>;
  tokens: Counter<'result'>;
  v2Bytes: Counter<'direction'>;
  /** manifest GETs and HEADs answered from the registry's storage by Berth itself (src/registry/manifest-store.ts) */
  manifestsFromStorage: Counter;
  jobDuration: Histogram<'type' | 'status'>;
  scanDuration: Histogram<'result'>;
  registryUp: Gauge;
}

/**
 * Prometheus metrics (prom-client), one registry per process. Gauges that reflect shared state (jobs per state,
 * inbox depth and lag, vulnerability DB age) are read from the DB at scrape time, so every replica reports the same.
 */
export function createMetrics(db: DB, probeRegistry: () => Promise<boolean>, sync?: Pick<RegistrySync, 'streamHealth' | 'skippedEvents'>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'berth_' });
  const httpDuration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'HTTP request latency by route family',
    labelNames: ['family', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'berth_tokens_total',
    help: 'Registry tokens issued, by result (issued: every requested scope granted in full; partial; denied: bad credentials)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const v2Bytes = new Counter({
    name: 'berth_v2_bytes_total',
    help: 'Bytes through the /v2 proxy (in: request bodies, out: response bodies)',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  const manifestsFromStorage = new Counter({
    name: 'berth_v2_manifests_from_storage_total',
    help: 'Manifest GETs and HEADs Berth answered from the managed registry storage itself, without a registry round trip',
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'berth_job_duration_seconds',
    help: 'Job run time by type and final state',
    labelNames: ['type', 'status'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [registry],
  });
  const scanDuration = new Histogram({
    name: 'berth_scan_duration_seconds',
    help: 'Scan time per artifact',
    labelNames: ['result'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const registryUp = new Gauge({
    name: 'berth_registry_up',
    help: '1 when the registry answers',
    registers: [registry],
    async collect() {
      this.set((await probeRegistry()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'berth_jobs',
    help: 'Jobs by type and state (from the database)',
    labelNames: ['type', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await countJobsByTypeAndStatus(db)) this.set({ type: r.type, state: r.status }, r.count);
    },
  });
  new Gauge({
    name: 'berth_notification_inbox_depth',
    help: 'Registry events received and not applied yet',
    registers: [registry],
    async collect() {
      this.set((await inboxBacklog(db)).pending);
    },
  });
  new Gauge({
    name: 'berth_notification_lag_seconds',
    help: 'Age of the oldest registry event not applied yet (0 when none)',
    registers: [registry],
    async collect() {
      const t = (await inboxBacklog(db)).oldestPendingAt;
      this.set(t ? Math.max(0, (Date.now() - t) / 1000) : 0);
    },
  });
  if (sync) {
    new Gauge({
      name: 'berth_notification_stall_seconds',
      help: 'Seconds since the registry served a manifest push, pull or delete with no event received since (0 while events flow)',
      registers: [registry],
      async collect() {
        this.set((await sync.streamHealth()).stalledSeconds);
      },
    });
    new Gauge({
      name: 'berth_notification_events_skipped',
      help: 'Registry events or envelopes skipped as unusable since start (logged; reconciliation repairs)',
      registers: [registry],
      collect() {
        this.set(sync.skippedEvents);
      },
    });
  }
  new Gauge({
    name: 'berth_vulndb_age_seconds',
    help: 'Time since the advisory database last changed (-1 when never imported)',
    registers: [registry],
    async collect() {
      const at = await findAdvisoryDbUpdatedAt(db);
      this.set(at !== null ? (Date.now() - at) / 1000 : -1);
    },
  });
  return { registry, httpDuration, tokens, v2Bytes, manifestsFromStorage, jobDuration, scanDuration, registryUp };
}

export const familyLabel = (path: string) => {
  const f = routeFamily(path);
  return f.startsWith('api:') && !API_FAMILIES.has(f.slice(4)) ? 'api:other' : f;
};

/** A job-runner listener recording how long finished jobs (and scans among them) took. */
export function observeJobDurations(metrics: Pick<Metrics, 'jobDuration' | 'scanDuration'>, scanType: string) {
  return (e: { to: string; job: { type: string; startedAt: number | null; finishedAt: number | null } }): void => {
    if (!isJobStatus(e.to) || !FINAL_STATES.has(e.to) || !e.job.startedAt || !e.job.finishedAt) return;
    const secs = (e.job.finishedAt - e.job.startedAt) / 1000;
    metrics.jobDuration.observe({ type: e.job.type, status: e.to }, secs);
    if (e.job.type === scanType) metrics.scanDuration.observe({ result: e.to }, secs);
  };
}
