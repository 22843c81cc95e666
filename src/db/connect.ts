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
