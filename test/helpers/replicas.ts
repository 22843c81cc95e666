import { after, before, describe } from 'node:test';
import { freePort } from '../../src/registry/managed.js';
import { createTestDatabase, testDialects, type TestDatabase } from './db.js';
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

/** The two Berth cores a case of {@link onOneCoreAndReplicas} talks to (the same one, or two replicas). */
export interface Cores {
  a: () => Instance;
  b: () => Instance;
}

/**
 * Declares `cases` twice over: on one core for each test dialect (`a` and `b` are that core), and on two cores sharing
 * one MariaDB ({@link startReplicaPair}: `a` and `b` are the replicas), each suite named `<name>, one core [dialect]`
 * and `<name>, two cores on one MariaDB`. `label` names the variant for the cases' own titles.
 */
export function onOneCoreAndReplicas(name: string, cases: (label: string, cores: Cores) => void): void {
  for (const dialect of testDialects()) {
    describe(`${name}, one core [${dialect}]`, () => {
      let core: Instance;
      before(async () => {
        core = await startInstance(dialect);
      });
      after(async () => core?.destroy());
      cases(`${dialect}, one core`, { a: () => core, b: () => core });
    });
  }
  if (!testDialects().includes('mysql')) return;
  describe(`${name}, two cores on one MariaDB`, () => {
    let pair: ReplicaPair;
    before(async () => {
      pair = await startReplicaPair();
    });
    after(async () => pair?.destroy());
    cases('mysql, replicas', { a: () => pair.a, b: () => pair.b });
  });
}
