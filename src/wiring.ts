import fs from 'node:fs';
import { sql } from 'kysely';
import type { Config } from './config.js';
import type { HealthCheck, Services } from './context.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import type { Logger } from './log.js';
import { AccountService } from './services/account-service.js';
import { AuditService } from './services/audit-service.js';
import { Authorizer } from './services/authorizer.js';
import { PrincipalService } from './services/principal-service.js';
import { ProjectService } from './services/project-service.js';
import { createViews } from './views.js';

export interface Wired {
  services: Services;
  /** The generated admin password on the very first start (to print once), else null. */
  generatedAdminPassword: string | null;
  close(): Promise<void>;
}

/** config → db (migrated) → services. Shared by main.ts, the CLI and the tests. */
export async function wireServices(config: Config, log: Logger): Promise<Wired> {
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
  const principals = new PrincipalService(accounts);
  const health: HealthCheck[] = [
    {
      name: 'database',
      async check() {
        await sql`select 1`.execute(db);
        return { ok: true };
      },
    },
  ];
  const generatedAdminPassword = await accounts.ensureAdmin(config.adminPassword);
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
    health,
  };
  return { services, generatedAdminPassword, close: () => conn.close() };
}
