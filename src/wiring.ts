import fs from 'node:fs';
import { sql } from 'kysely';
import { loadTokenKeys } from './auth/token-keys.js';
import type { Config } from './config.js';
import type { HealthCheck, RegistryHandle, Services } from './context.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import type { Logger } from './log.js';
import { RegistryClient } from './registry/client.js';
import { ManagedRegistry } from './registry/managed.js';
import { loadNotificationSecret, loadOrCreateSecret } from './registry/secrets.js';
import { AccountService } from './services/account-service.js';
import { AuditService } from './services/audit-service.js';
import { Authorizer } from './services/authorizer.js';
import { PrincipalService } from './services/principal-service.js';
import { ProjectService } from './services/project-service.js';
import { RegistrySync } from './services/registry-sync.js';
import { RepositoryService } from './services/repository-service.js';
import { RobotService } from './services/robot-service.js';
import { TokenService } from './services/token-service.js';
import { createViews } from './views.js';
import { createMetrics } from './metrics.js';
import { JobWebhooks } from './jobs/hooks.js';
import { JobRunner, type RunnerOptions } from './jobs/runner.js';
import { Scheduler, type ScheduleDefault } from './jobs/schedules.js';
import { RECONCILE, reconcileJob } from './jobs/types/reconcile.js';
import { PRIORITY_PUSH, SCAN_ALL, SCAN_IMAGE, scanAllJob, scanJob, scanKey } from './jobs/types/scan.js';
import { VULNDB_UPDATE, vulndbUpdateJob } from './jobs/types/vulndb-update.js';
import { GARBAGE_COLLECTION, gcJob } from './jobs/types/gc.js';
import { AdvisoryStore } from './scanner/advisory-store.js';
import { ScanService } from './services/scan-service.js';
import { PolicyService } from './services/policy-service.js';
import { findProjectByName } from './db/repos/projects.js';

export interface Wired {
  services: Services;
  /** The generated admin password on the very first start (to print once), else null. */
  generatedAdminPassword: string | null;
  /**
   * Once core listens on `corePort`: brings the registry up (the managed one posts its notifications there), applies
   * leftover events, starts the job runner and the schedules, and enqueues a reconciliation.
   */
  startBackground(corePort: number): Promise<void>;
  close(): Promise<void>;
}

/** config → db (migrated) → services. Shared by main.ts, the CLI and the tests. */
/** Default schedules, created once; admins change them in the UI or with PUT /api/v1/schedules/{name}. */
export const DEFAULT_SCHEDULES: ScheduleDefault[] = [
  { name: 'scan-all', cron: '0 2 * * *', jobType: SCAN_ALL },
  { name: 'reconcile', cron: '17 * * * *', jobType: RECONCILE },
  { name: 'vulndb-update', cron: '30 1 * * *', jobType: VULNDB_UPDATE },
  { name: 'gc', cron: '0 3 * * 0', jobType: GARBAGE_COLLECTION, payload: { dryRun: false, deleteUntagged: false } },
];

export async function wireServices(config: Config, log: Logger, opts: { runner?: RunnerOptions; bootstrapAdmin?: boolean } = {}): Promise<Wired> {
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const conn = connectDatabase(config.database);
  try {
    const applied = await migrateToLatest(conn.db);
    if (applied.length) log.info({ applied }, 'migrations applied');
  } catch (err) {
    await conn.close();
    throw err;
  }
  const { db } = conn;
  const audit = new AuditService(db, log);
  const authz = new Authorizer(db);
  const accounts = new AccountService(db, log, config.sessionTtlSeconds * 1000);
  const projects = new ProjectService(db, authz, audit);
  const robots = new RobotService(db, authz, audit);
  const principals = new PrincipalService(accounts, robots);
  const keys = loadTokenKeys({ dataDir: config.dataDir, keyFile: config.tokenKeyFile, certFile: config.tokenCertFile });
  const tokens = new TokenService(db, authz, keys, config.tokenTtlSeconds);
  const notificationSecret = loadNotificationSecret({ dataDir: config.dataDir, secret: config.notificationSecret, secretFile: config.notificationSecretFile });

  let managed: ManagedRegistry | null = null;
  let managedUrl = '';
  const registryUrl = () => config.registryUrl ?? managedUrl;
  const client = new RegistryClient(registryUrl, (access) => tokens.internal(access));
  const sync = new RegistrySync(db, client, log);
  const registry: RegistryHandle = { url: registryUrl, get managed() { return managed; }, client, sync, notificationSecret, policies: [], writes: { inflight: 0, lastEndedAt: 0 } };

  const jobs = new JobRunner(db, conn.dialect, log, opts.runner);
  const advisories = new AdvisoryStore(db);
  // External scanner adapters pull with their own short-lived token (30 minutes, pull on one repository).
  const scans = new ScanService(db, registry, advisories, log, (repo) => tokens.sign('berth-scanner', [{ type: 'repository', name: repo, actions: ['pull'] }], 1800).token);
  const policy = new PolicyService(db, registry, scans);
  // /v2 policy, in order: read-only during GC (writes get a retryable 503), then the vulnerable-pull gate.
  registry.policies.push(async (req) => {
    if (req.method === 'GET' || req.method === 'HEAD') return null;
    const ro = await policy.readOnly();
    if (!ro) return null;
    const wait = Math.max(5, Math.ceil((ro.until - Date.now()) / 1000));
    return { status: 503, code: 'UNAVAILABLE', message: `Berth is read-only while garbage collection runs (${ro.reason}): retry in a few minutes`, headers: { 'Retry-After': String(Math.min(wait, 300)) } };
  });
  registry.policies.push((req) => (req.kind === 'manifest' && (req.method === 'GET' || req.method === 'HEAD') ? policy.pullGate(req) : null));
  registry.manifestPut = (req, body) => policy.manifestPut(req, body);
  jobs.register(
    gcJob(registry, policy, jobs, {
      bin: config.registryBin,
      target: () => (managed ? { configPath: managed.configPath, storageDir: managed.storageDir } : config.registryConfigPath && config.registryStorage ? { configPath: config.registryConfigPath, storageDir: config.registryStorage } : null),
    }),
  );
  jobs.register(reconcileJob(sync));
  jobs.register(scanJob(scans));
  jobs.register(scanAllJob(db));
  jobs.register(vulndbUpdateJob(advisories, config.vulndbUrls));
  // Auto-scan on push, ahead of any bulk scan.
  sync.onPushed.push(async (a) => {
    const project = await findProjectByName(db, a.repository.split('/')[0]!);
    if (!project?.autoScan) return;
    await jobs.enqueue(SCAN_IMAGE, { repository: a.repository, digest: a.digest, reason: 'push' }, { uniqueKey: scanKey(a.artifactId), releaseKeyOnFinish: true, priority: PRIORITY_PUSH });
  });
  // A scan that failed for good leaves its report saying so (the in-process hook of the original design).
  jobs.onChange(async (e) => {
    if (e.job.type !== SCAN_IMAGE || e.to !== 'error') return;
    const p = e.job.payload as { repository?: string; digest?: string };
    const repo = p.repository ? await db.selectFrom('repositories').select('id').where('name', '=', p.repository).executeTakeFirst() : undefined;
    const art = repo && p.digest ? await db.selectFrom('artifacts').select('id').where('repository_id', '=', repo.id).where('digest', '=', p.digest).executeTakeFirst() : undefined;
    if (art) await scans.markFailed(Number(art.id), e.job.error ?? 'scan failed');
  });
  jobs.onChange(new JobWebhooks(log, config.jobWebhookUrl, config.jobWebhookSecret).listener);
  const scheduler = new Scheduler(db, jobs, log, DEFAULT_SCHEDULES.filter((d) => jobs.registeredTypes().includes(d.jobType)));

  const metrics = createMetrics(db, () => client.ping());
  jobs.onChange((e) => {
    if (!['success', 'error', 'stopped'].includes(e.to) || !e.job.startedAt || !e.job.finishedAt) return;
    const secs = (e.job.finishedAt - e.job.startedAt) / 1000;
    metrics.jobDuration.observe({ type: e.job.type, status: e.to }, secs);
    if (e.job.type === SCAN_IMAGE) metrics.scanDuration.observe({ result: e.to }, secs);
  });
  let runnerStarted = false;

  const health: HealthCheck[] = [
    {
      name: 'database',
      async check() {
        await sql`select 1`.execute(db);
        return { ok: true };
      },
    },
    {
      name: 'registry',
      async check() {
        if (!registryUrl()) return { ok: false, detail: 'not started' };
        return (await client.ping()) ? { ok: true } : { ok: false, detail: 'registry is not answering' };
      },
    },
    {
      name: 'jobs',
      async check() {
        return runnerStarted ? { ok: true } : { ok: false, detail: 'job runner not started' };
      },
    },
    {
      // An empty or old advisory database does not make Berth unready; the detail says how old it is.
      name: 'vulndb',
      async check() {
        const at = await advisories.updatedAt();
        return { ok: true, detail: at ? `updated ${new Date(at).toISOString()}` : 'empty: import OSV advisories' };
      },
    },
  ];
  // The CLI must not create `admin` with a password nobody sees: only the server bootstraps it.
  const generatedAdminPassword = opts.bootstrapAdmin === false ? null : await accounts.ensureAdmin(config.adminPassword);
  const services: Services = {
    config,
    log,
    db,
    dialect: conn.dialect,
    views: createViews({ cache: process.env.NODE_ENV === 'production' }),
    accounts,
    projects,
    audit,
    authz,
    principals,
    tokens,
    robots,
    repositories: new RepositoryService(db, projects, authz, audit, registry),
    registry,
    jobs,
    scheduler,
    advisories,
    scans,
    policy,
    metrics,
    health,
  };
  return {
    services,
    generatedAdminPassword,
    async startBackground(corePort: number) {
      if (!config.registryUrl) {
        managed = new ManagedRegistry({
          bin: config.registryBin,
          dataDir: config.dataDir,
          log,
          config: {
            externalUrl: config.externalUrl,
            certPath: keys.certPath,
            notifyUrl: `http://127.0.0.1:${corePort}/service/notifications`,
            notificationSecret,
            httpSecret: loadOrCreateSecret(config.dataDir, 'registry-http.secret'),
          },
        });
        await managed.start();
        managedUrl = managed.url;
        log.info({ url: managed.url, pid: managed.pid }, 'managed registry started');
      }
      sync.kick();
      await jobs.start();
      runnerStarted = true;
      await scheduler.start();
      // Notifications lost while no core was up are repaired by a reconciliation at every start.
      await jobs.enqueue(RECONCILE, { reason: 'startup' });
    },
    async close() {
      scheduler.stop();
      await jobs.stop();
      await sync.stop();
      await managed?.stop();
      await conn.close();
    },
  };
}
