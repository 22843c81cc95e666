import { pingDatabase, type DB } from './db/connect.js';

/** A named readiness check for /api/v1/health. */
export interface HealthCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

export interface HealthDeps {
  db: DB;
  /** the registry's base URL, '' until it is up */
  registryUrl: () => string;
  pingRegistry: () => Promise<boolean>;
  runnerStarted: () => boolean;
  /** when advisories were last imported, null when the advisory database is empty */
  advisoriesUpdatedAt: () => Promise<number | null>;
  /** the registry's notification stream: stalled (activity without events) or lagging (events not applied) */
  notifications: () => Promise<{ ok: boolean; detail?: string }>;
}

/** The components /api/v1/health reports: database, registry, job runner, notification stream, advisory database. */
export function createHealthChecks(d: HealthDeps): HealthCheck[] {
  return [
    {
      name: 'database',
      async check() {
        await pingDatabase(d.db);
        return { ok: true };
      },
    },
    {
      name: 'registry',
      async check() {
        if (!d.registryUrl()) return { ok: false, detail: 'not started' };
        return (await d.pingRegistry()) ? { ok: true } : { ok: false, detail: 'registry is not answering' };
      },
    },
    {
      name: 'jobs',
      async check() {
        return d.runnerStarted() ? { ok: true } : { ok: false, detail: 'job runner not started' };
      },
    },
    {
      // A stuck notification stream (the registry retrying one envelope forever, a wrong endpoint) or a stuck apply.
      name: 'notifications',
      check: () => d.notifications(),
    },
    {
      // An empty or old advisory database does not make Berth unready; the detail says how old it is.
      name: 'vulndb',
      async check() {
        const at = await d.advisoriesUpdatedAt();
        return { ok: true, detail: at ? `updated ${new Date(at).toISOString()}` : 'empty: import OSV advisories' };
      },
    },
  ];
}
