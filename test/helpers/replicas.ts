import { freePort } from '../../src/registry/managed.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startExternalRegistry } from './external-registry.js';
import { startInstance, type Instance } from './registry.js';

export interface ReplicaPair {
  /** the replica the registry notifies, and whose port is the external URL */
  a: Instance;
  /** a second core on the same database, registry and storage */
  b: Instance;
  database: TestDatabase;
  /** the registry's storage root, shared by both cores */
  storage: string;
  registryPort: number;
  /** Stops both cores and the registry, and drops the database. */
  destroy(): Promise<void>;
}

/**
 * Compose's topology as plain processes: a docker-registry configured by the same `berth registry-config` command
 * compose runs (paths and host names differ), and two Berth cores on one MySQL/MariaDB database and one data volume,
 * behind one external URL (A's). Replicas run on MariaDB only (SQLite is the one-process database).
 */
export async function startReplicaPair(): Promise<ReplicaPair> {
  const database = await createTestDatabase('mysql');
  const portA = await freePort();
  const registry = await startExternalRegistry(database.dataDir, portA);
  // A set-up that fails half-way leaves nothing running (the caller gets no pair to destroy).
  let a: Instance | undefined;
  let b: Instance;
  try {
    a = await startInstance('mysql', registry.env, { database, port: portA });
    b = await startInstance('mysql', registry.env, { database, port: await freePort() });
  } catch (err) {
    await a?.stop().catch(() => {});
    registry.stop();
    await database.drop().catch(() => {});
    throw err;
  }
  return {
    a,
    b,
    database,
    storage: registry.storage,
    registryPort: registry.port,
    async destroy() {
      await b.stop();
      await a.stop();
      registry.stop();
      await database.drop();
    },
  };
}
