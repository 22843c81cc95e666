import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/registry/managed.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { eventually, run, startInstance, type Instance } from './registry.js';

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
  const registryPort = await freePort();
  const storage = path.join(database.dataDir, 'registry-storage');
  const env = { BERTH_DATA_DIR: database.dataDir, BERTH_EXTERNAL_URL: `http://127.0.0.1:${portA}` };
  const conf = await run(
    'node',
    [
      'bin/berth.mjs',
      'registry-config',
      '--listen',
      `127.0.0.1:${registryPort}`,
      '--storage',
      storage,
      '--cert',
      path.join(database.dataDir, 'keys', 'token.crt'),
      '--notify-url',
      `http://127.0.0.1:${portA}/service/notifications`,
    ],
    { env },
  );
  fs.writeFileSync(path.join(database.dataDir, 'registry.yml'), conf.stdout);
  const registry: ChildProcess = spawn('docker-registry', ['serve', path.join(database.dataDir, 'registry.yml')], { stdio: 'ignore' });
  await eventually(async () => (await fetch(`http://127.0.0.1:${registryPort}/v2/`).catch(() => null))?.status === 401);
  const shared = {
    BERTH_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
    BERTH_REGISTRY_CONFIG: path.join(database.dataDir, 'registry.yml'),
    BERTH_REGISTRY_STORAGE: storage,
    BERTH_EXTERNAL_URL: `http://127.0.0.1:${portA}`,
  };
  // A set-up that fails half-way leaves nothing running (the caller gets no pair to destroy).
  let a: Instance | undefined;
  let b: Instance;
  try {
    a = await startInstance('mysql', shared, { database, port: portA });
    b = await startInstance('mysql', shared, { database, port: await freePort() });
  } catch (err) {
    await a?.stop().catch(() => {});
    registry.kill('SIGKILL');
    await database.drop().catch(() => {});
    throw err;
  }
  return {
    a,
    b,
    database,
    storage,
    registryPort,
    async destroy() {
      await b.stop();
      await a.stop();
      registry.kill('SIGKILL');
      await database.drop();
    },
  };
}
