import fs from 'node:fs';
import path from 'node:path';
import { loadTokenKeys } from './auth/token-keys.js';
import type { Config } from './config.js';
import type { Services } from './context.js';
import { connectDatabase, type Connection, type DB, type Dialect, waitForDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import type { Logger } from './log.js';
import { RegistryClient } from './registry/client.js';
import { ManagedRegistry } from './registry/managed.js';
import type { WriteTracker } from './registry/proxy.js';
import { CursorCodec } from './paging.js';
import { loadNotificationSecret, loadOrCreateSecret, loadSettingsKey } from './registry/secrets.js';
import { AccountService } from './services/account-service.js';
import { AuditService } from './services/audit-service.js';
import { AuthSettingsService } from './services/auth-settings-service.js';
import { IdentityService } from './services/identity-service.js';
import { OidcService } from './services/oidc-service.js';
import { Authorizer } from './services/authorizer.js';
import { PrincipalService } from './services/principal-service.js';
import { ProjectService } from './services/project-service.js';
import { RegistrySync } from './services/registry-sync.js';
import { RepositoryService } from './services/repository-service.js';
import { RobotService } from './services/robot-service.js';
import { TokenService } from './services/token-service.js';
import { RegistryAccess } from './services/registry-access.js';
import { createViews } from './views.js';
import { createMetrics, observeJobDurations } from './metrics.js';
import { createHealthChecks } from './health.js';
import { JobWebhooks } from './jobs/hooks.js';
import { JobRunner, type RunnerOptions } from './jobs/runner.js';
import { Scheduler } from './jobs/schedules.js';
import { DEFAULT_SCHEDULES } from './jobs/default-schedules.js';
import { RECONCILE, reconcileJob } from './jobs/types/reconcile.js';
import { SCAN_IMAGE, markFailedScans, scanAllJob, scanJob } from './jobs/types/scan.js';
import { vulndbUpdateJob } from './jobs/types/vulndb-update.js';
import { gcJob } from './jobs/types/gc.js';
import { AdvisoryStore } from './scanner/advisory-store.js';
import { ScanService } from './services/scan-service.js';
import { ScanRequests } from './services/scan-requests.js';
import { MaintenanceService } from './services/maintenance-service.js';
import { AdvisoryImports } from './services/advisory-imports.js';
import { PolicyService } from './services/policy-service.js';
import { DeletionService } from './services/deletion-service.js';
import { WriteDrain } from './services/write-drain.js';
import { WebhookService } from './services/webhook-service.js';
import { connectWebhookEvents } from './services/webhook-events.js';
import { webhookJob } from './jobs/types/webhook.js';
import { SecurityHubService } from './services/security-hub-service.js';
import { RetentionService } from './services/retention-service.js';
import { retentionJob, TAG_RETENTION } from './jobs/types/retention.js';
import { SCANNER_SUBJECT } from './registry/constants.js';
import { MAX_CONCURRENT_UPLOADS, UploadSlots } from './services/upload-slots.js';
import { OutboundService } from './services/outbound-service.js';
import { SiteLanguageService } from './services/site-language-service.js';
import { ScannerRegistry } from './services/scanner-registry.js';
import { referrerLister } from './services/referrers-service.js';
import { SignatureService } from './services/signature-service.js';

export interface Wired {
  services: Services;
  /** the database handle, for the composition root and tests only: the app reaches data through services */
  db: DB;
  dialect: Dialect;
  /** The generated admin password on the very first start (already handed to `announceAdminPassword`), else null. */
  generatedAdminPassword: string | null;
  /**
   * Once core listens on `corePort`: brings the registry up (the managed one posts its notifications there), applies
   * leftover events, starts the job runner and the schedules, and enqueues a reconciliation.
   */
  startBackground(corePort: number): Promise<void>;
  close(): Promise<void>;
}

/** How long a start waits for an unreachable database before giving up (exit 1, for the supervisor to restart). */
const DATABASE_STARTUP_WAIT_MS = 60_000;

/**
 * config → db (migrated) → services: only construction and connection; the rules live in their modules.
 * `bootstrapAdmin: false` (the CLI) creates no `admin`; otherwise a first start creates it, and a password it generates
 * goes to `announceAdminPassword` before it is stored (see {@link AccountService.ensureAdmin}).
 */
export async function wireServices(config: Config, log: Logger, opts: WireOptions = {}): Promise<Wired> {
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const conn = connectDatabase(config.database);
  try {
    // A database container that is still starting (compose, a restore, a restart) is waited for, not a reason to exit.
    await waitForDatabase(conn.db, {
      timeoutMs: DATABASE_STARTUP_WAIT_MS,
      onWait: (attempt, err) => log.warn({ attempt, code: (err as { code?: string }).code }, 'database not reachable yet: waiting'),
    });
    const applied = await migrateToLatest(conn.db);
    if (applied.length) log.info({ applied }, 'migrations applied');
    return await wire(conn, config, log, opts);
  } catch (err) {
    // A failed start leaves no connection open (nothing else has started yet).
    await conn.close().catch(() => {});
    throw err;
  }
}

interface WireOptions {
  runner?: RunnerOptions;
  bootstrapAdmin?: boolean;
  announceAdminPassword?: (password: string) => void;
}

async function wire(conn: Connection, config: Config, log: Logger, opts: WireOptions): Promise<Wired> {
  const { db } = conn;
  const audit = new AuditService(db, log);
  const authz = new Authorizer(db);
  const accounts = new AccountService(db, log, config.sessionTtlSeconds * 1000);
  const projects = new ProjectService(db, authz, audit);
  const access = new RegistryAccess(db, authz);
  const robots = new RobotService(db, authz, audit, access);
  const settingsKey = loadSettingsKey({ dataDir: config.dataDir, keyFile: config.settingsKeyFile });
  const authSettings = new AuthSettingsService(db, config.identity, settingsKey);
  await authSettings.seed();
  const identity = new IdentityService(db, log, accounts, authSettings, audit);
  const oidc = new OidcService(authSettings, identity, log, config.externalUrl, loadOrCreateSecret(config.dataDir, 'oidc-cookie.key'));
  const principals = new PrincipalService(identity, robots);
  const keys = loadTokenKeys({ dataDir: config.dataDir, keyFile: config.tokenKeyFile, certFile: config.tokenCertFile });
  const tokens = new TokenService(access, keys, config.tokenTtlSeconds);
  const notificationSecret = loadNotificationSecret({ dataDir: config.dataDir, secret: config.notificationSecret, secretFile: config.notificationSecretFile });

  let managed: ManagedRegistry | null = null;
  // Read per call: a managed registry that had to restart may listen on another port.
  const registryUrl = () => config.registryUrl ?? managed?.url ?? '';
  const client = new RegistryClient(registryUrl, (access) => tokens.internal(access));
  const sync = new RegistrySync(db, client, log, audit);
  // The managed registry's storage root, which core reads and writes directly; null with an external registry.
  const managedStorage = () => managed?.storageDir ?? null;
  const writes: WriteTracker = { inflight: 0, lastEndedAt: 0 };

  const jobs = new JobRunner(db, conn.dialect, log, opts.runner);
  const advisories = new AdvisoryStore(db);
  // External scanner adapters pull with their own short-lived token (30 minutes, pull on one repository).
  // Every outbound call (scanner adapters, job webhooks, advisory feeds) goes through one policy-checked client.
  const outbound = new OutboundService(db, config, registryUrl);
  const scanners = new ScannerRegistry(db, outbound.client);
  const scans = new ScanService(
    db,
    client,
    managedStorage,
    advisories,
    log,
    (repo) => tokens.sign(SCANNER_SUBJECT, [{ type: 'repository', name: repo, actions: ['pull'] }], 1800).token,
    { maxRatio: config.scanMaxRatio, maxImageBytes: config.scanMaxImageBytes },
    scanners,
  );
  const policy = new PolicyService(db, client, scans);
  // Signed-only policy: cosign signatures are verified when pushed, and again when a project's keys change.
  const signatures = new SignatureService(db, client, log);
  sync.onPushed.push(async (a) => void (await signatures.verifyArtifact(a.repository, a.artifactId)));
  projects.onSignatureKeysChanged.push(async (p) => void (await signatures.reverifyProject(p)));
  // The one deletion service: REST, UI, /v2 manifest DELETEs (through the pipeline), GC and retention.
  const deletion = new DeletionService(
    db,
    client,
    sync,
    audit,
    log,
    managedStorage,
    () => managed?.storageDir ?? config.registryStorage ?? null,
    () => policy.readOnlyRefusal(),
    writes,
  );
  const drain = new WriteDrain(db, writes, log);
  jobs.register(
    gcJob(sync, writes, policy, jobs, {
      bin: config.registryBin,
      target: () =>
        managed
          ? { configPath: managed.configPath, storageDir: managed.storageDir }
          : config.registryConfigPath && config.registryStorage
            ? { configPath: config.registryConfigPath, storageDir: config.registryStorage }
            : null,
      untagged: { db, deletion },
      drain,
    }),
  );
  jobs.register(reconcileJob(sync));
  jobs.register(scanJob(scans));
  jobs.register(scanAllJob(db));
  jobs.register(vulndbUpdateJob(advisories, config.vulndbUrls, outbound.client, path.join(config.dataDir, 'tmp')));
  const scanRequests = new ScanRequests(db, jobs, authz, audit, (projectId) => scans.scannerFor(projectId));
  sync.onPushed.push(scanRequests.onArtifactPushed);
  jobs.onChange(markFailedScans(db, scans));
  jobs.onChange(new JobWebhooks(log, config.jobWebhookUrl, config.jobWebhookSecret, outbound.client).listener);
  // Project webhooks: events only enqueue delivery jobs, so a receiver that is down never slows a push or a pull.
  const siteLanguage = new SiteLanguageService(db);
  const webhooks = new WebhookService(db, projects, authz, audit, jobs, log, new URL(config.externalUrl).host, outbound.client, siteLanguage);
  jobs.register(webhookJob(webhooks, { retryMs: config.webhookRetryMs }));
  connectWebhookEvents({ db, sync, policy, scans, webhooks, scanJobType: SCAN_IMAGE, onJobChange: (fn) => jobs.onChange(fn) });
  const scheduler = new Scheduler(
    db,
    jobs,
    log,
    DEFAULT_SCHEDULES.filter((d) => jobs.registeredTypes().includes(d.jobType)),
  );
  // Tag retention: per-project schedules; deletes through the deletion service, like every other path.
  const retention = new RetentionService(db, projects, authz, audit, jobs, scheduler, deletion, webhooks, log);
  jobs.register(retentionJob(retention));
  scheduler.allowDynamic(TAG_RETENTION);

  const metrics = createMetrics(db, () => client.ping(), sync);
  jobs.onChange(observeJobDurations(metrics, SCAN_IMAGE));
  let runnerStarted = false;
  const health = createHealthChecks({
    db,
    registryUrl,
    pingRegistry: () => client.ping(),
    runnerStarted: () => runnerStarted,
    advisoriesUpdatedAt: () => advisories.updatedAt(),
    notifications: () => sync.streamHealth(),
  });

  // The CLI must not create `admin` with a password nobody sees: only the server bootstraps it.
  const generatedAdminPassword = opts.bootstrapAdmin === false ? null : await accounts.ensureAdmin(config.adminPassword, opts.announceAdminPassword);
  const services: Services = {
    config,
    log,
    views: createViews({ cache: process.env.NODE_ENV === 'production' }),
    accounts,
    identity,
    oidc,
    projects,
    audit,
    authz,
    principals,
    tokens,
    access,
    robots,
    repositories: new RepositoryService(db, projects, authz, client, deletion),
    deletion,
    registryUrl,
    managedRegistry: () => managed,
    sync,
    notificationSecret,
    referrers: referrerLister(db),
    writes,
    jobs,
    scheduler,
    advisories,
    advisoryImports: new AdvisoryImports(advisories, audit),
    scans,
    scanRequests,
    maintenance: new MaintenanceService(jobs, audit),
    policy,
    webhooks,
    securityHub: new SecurityHubService(db, projects),
    retention,
    metrics,
    health,
    uploads: new UploadSlots(MAX_CONCURRENT_UPLOADS),
    outbound,
    siteLanguage,
    scanners,
    // Cursors are signed with a key derived from the settings key, which replicas already share.
    cursors: new CursorCodec(settingsKey),
  };
  return {
    services,
    db,
    dialect: conn.dialect,
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
        log.info({ url: managed.url, pid: managed.pid }, 'managed registry started');
      }
      sync.kick();
      drain.start();
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
      await drain.stop();
      await managed?.stop();
      await conn.close();
    },
  };
}
