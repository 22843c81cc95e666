import type { Locale } from './i18n/index.js';
import type { Principal } from './auth/principal.js';
import type { HealthCheck } from './health.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { AccountService, Session } from './services/account-service.js';
import type { Actor, AuditService } from './services/audit-service.js';
import type { Authorizer } from './services/authorizer.js';
import type { IdentityService } from './services/identity-service.js';
import type { OidcService } from './services/oidc-service.js';
import type { PrincipalService } from './services/principal-service.js';
import type { ProjectService } from './services/project-service.js';
import type { Views } from './views.js';
import type { ManagedRegistry } from './registry/managed.js';
import type { WriteTracker } from './registry/proxy.js';
import type { ReferrerLister } from './registry/referrers.js';
import type { RegistryAccess } from './services/registry-access.js';
import type { PolicyService } from './services/policy-service.js';
import type { Metrics } from './metrics.js';
import type { RegistrySync } from './services/registry-sync.js';
import type { RepositoryService } from './services/repository-service.js';
import type { RobotService } from './services/robot-service.js';
import type { TokenService } from './services/token-service.js';
import type { JobRunner } from './jobs/runner.js';
import type { Scheduler } from './jobs/schedules.js';
import type { AdvisoryStore } from './scanner/advisory-store.js';
import type { ScanService } from './services/scan-service.js';
import type { ScanRequests } from './services/scan-requests.js';
import type { MaintenanceService } from './services/maintenance-service.js';
import type { AdvisoryImports } from './services/advisory-imports.js';
import type { UploadSlots } from './services/upload-slots.js';
import type { OutboundService } from './services/outbound-service.js';
import type { SiteLanguageService } from './services/site-language-service.js';
import type { ScannerRegistry } from './services/scanner-registry.js';
import type { DeletionService } from './services/deletion-service.js';
import type { WebhookService } from './services/webhook-service.js';
import type { SecurityHubService } from './services/security-hub-service.js';
import type { RetentionService } from './services/retention-service.js';
import type { CursorCodec } from './paging.js';

/** Everything main.ts wires and hands to the app: no module-level singletons. */
export interface Services {
  config: Config;
  log: Logger;
  views: Views;
  accounts: AccountService;
  /** sign-in by mode (db, LDAP, OIDC), directory provisioning and groups */
  identity: IdentityService;
  oidc: OidcService;
  projects: ProjectService;
  audit: AuditService;
  authz: Authorizer;
  principals: PrincipalService;
  tokens: TokenService;
  /** live permissions for /v2 and the token endpoint, cached and invalidated across replicas */
  access: RegistryAccess;
  robots: RobotService;
  repositories: RepositoryService;
  deletion: DeletionService;
  /** base URL of the registry as of now (managed: the child's loopback port, which a restart may change) */
  registryUrl(): string;
  /** the managed registry child once started; null with an external registry (`BERTH_REGISTRY_URL`) */
  managedRegistry(): ManagedRegistry | null;
  /** registry → database: the notification inbox, artifact import, reconciliation */
  sync: RegistrySync;
  /** the shared secret the registry's notifications carry */
  notificationSecret: string;
  /** the referrers API's source (Berth's database) */
  referrers: ReferrerLister;
  /** writes in flight through this process's proxy */
  writes: WriteTracker;
  jobs: JobRunner;
  scheduler: Scheduler;
  advisories: AdvisoryStore;
  /** OSV imports on request (REST, UI, CLI): who may, and the audit record */
  advisoryImports: AdvisoryImports;
  scans: ScanService;
  /** who may ask for a scan and how it is queued: a user's, scan-all, auto-scan on push */
  scanRequests: ScanRequests;
  /** garbage collection and reconciliation on request */
  maintenance: MaintenanceService;
  policy: PolicyService;
  webhooks: WebhookService;
  securityHub: SecurityHubService;
  retention: RetentionService;
  metrics: Metrics;
  health: HealthCheck[];
  /** bounds concurrent large uploads (advisory imports) */
  uploads: UploadSlots;
  /** the outbound policy and the one client every outbound call goes through */
  outbound: OutboundService;
  /** the site's default language (Slack messages) */
  siteLanguage: SiteLanguageService;
  /** registered external scanner adapters */
  scanners: ScannerRegistry;
  /** signs and checks list cursors */
  cursors: CursorCodec;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    services: Services;
    principal: Principal;
    session: Session | undefined;
    actor: Actor;
    /** a notice shown on every UI page (read-only mode) */
    banner?: string;
    /** the UI language of this request (`src/i18n`), set for UI pages */
    locale?: Locale;
    /** The signed-in admin still has the password generated at first start: the layout asks them to change it. */
    passwordNotice?: boolean;
    /** No advisory was ever loaded: every scan finds nothing, and the layout says so (scan results are not "clean"). */
    advisoryNotice?: boolean;
    /** True when the language was chosen (stored for the user or in the cookie), not picked from the browser. */
    localeChosen?: boolean;
  };
}
