import type { Principal } from './auth/principal.js';
import type { Config } from './config.js';
import type { DB, Dialect } from './db/connect.js';
import type { Logger } from './log.js';
import type { AccountService, Session } from './services/account-service.js';
import type { Actor, AuditService } from './services/audit-service.js';
import type { Authorizer } from './services/authorizer.js';
import type { PrincipalService } from './services/principal-service.js';
import type { ProjectService } from './services/project-service.js';
import type { Views } from './views.js';

/** A named readiness check for /api/v1/health. */
export interface HealthCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

/** Everything main.ts wires and hands to the app: no module-level singletons. */
export interface Services {
  config: Config;
  log: Logger;
  db: DB;
  dialect: Dialect;
  views: Views;
  accounts: AccountService;
  projects: ProjectService;
  audit: AuditService;
  authz: Authorizer;
  principals: PrincipalService;
  health: HealthCheck[];
}

export interface AppEnv {
  Variables: {
    requestId: string;
    services: Services;
    principal: Principal;
    session: Session | undefined;
    actor: Actor;
  };
}
