import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, MysqlDialect, SqliteDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import type { DatabaseConfig } from '../config.js';
import type { Database } from './tables.js';

export type DB = Kysely<Database>;
export type Dialect = DatabaseConfig['dialect'];

export interface Connection {
  db: DB;
  dialect: Dialect;
  close(): Promise<void>;
}

/** The only module that knows the drivers. */
export function connectDatabase(cfg: DatabaseConfig): Connection {
  if (cfg.dialect === 'sqlite') {
    fs.mkdirSync(path.dirname(cfg.url), { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(cfg.url);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    try {
      fs.chmodSync(cfg.url, 0o600);
    } catch {
      /* not ours to chmod (e.g. a mounted file): leave it */
    }
    // Kysely prepares every query anew; better-sqlite3 statements are reusable, and preparing was the largest single
    // cost of a token request in a CPU profile. Cache them by SQL text (bounded: SQL texts are generated, not user data).
    const statements = new Map<string, SQLite.Statement>();
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((source: string) => {
      let st = statements.get(source);
      if (!st) {
        if (statements.size >= 500) statements.clear();
        st = prepare(source);
        statements.set(source, st);
      }
      return st;
    }) as typeof sqlite.prepare;
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const pool = createPool({
    uri: cfg.url,
    connectionLimit: 10,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    charset: 'utf8mb4',
  });
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  return { db, dialect: 'mysql', close: () => db.destroy() };
}

/** A round trip to the database (readiness). */
export async function pingDatabase(db: DB): Promise<void> {
  await sql`select 1`.execute(db);
}

/** mysql2/Node error codes that mean "the server is not answering yet", as opposed to a wrong password or URL. */
const NOT_YET_REACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR']);

/**
 * Waits until {@link pingDatabase} answers, retrying while the server is not reachable yet (a MariaDB container
 * still starting or restarting: ECONNREFUSED, ETIMEDOUT, PROTOCOL_CONNECTION_LOST …) every 0.5–4 s, doubling, for at
 * most `timeoutMs` (Harbor's core waits for its database the same way). Any other error (access denied, unknown
 * database) and the last error after `timeoutMs` are thrown at once. `onWait(attempt, err)` is told about each retry.
 */
export async function waitForDatabase(db: DB, opts: { timeoutMs: number; onWait?: (attempt: number, err: Error) => void }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await pingDatabase(db);
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !NOT_YET_REACHABLE.has(code) || Date.now() + delay > deadline) throw err;
      opts.onWait?.(attempt, err as Error);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4000);
    }
  }
}
