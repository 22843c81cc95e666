import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import type { DatabaseConfig } from '../../src/config.js';

export type TestDialect = 'sqlite' | 'mysql';

/** MariaDB/MySQL server the suite uses; each run creates and drops its own database there. */
export const MYSQL_ADMIN_URL = process.env.BERTH_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

/** Every suite runs on both dialects, unless BERTH_TEST_DIALECTS narrows it for a quick local loop. */
export function testDialects(): TestDialect[] {
  const only = process.env.BERTH_TEST_DIALECTS;
  if (!only) return ['sqlite', 'mysql'];
  return only
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is TestDialect => s === 'sqlite' || s === 'mysql');
}

export interface TestDatabase {
  config: DatabaseConfig;
  dataDir: string;
  drop(): Promise<void>;
}

/** A fresh, empty database plus data dir for one test suite. */
export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  if (dialect === 'sqlite') {
    return {
      config: { dialect, url: path.join(dataDir, 'berth.db') },
      dataDir,
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `berth_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const conn = await createConnection(MYSQL_ADMIN_URL);
  await conn.query(`create database \`${name}\` character set utf8mb4 collate utf8mb4_general_ci`);
  await conn.end();
  return {
    config: { dialect, url: `${MYSQL_ADMIN_URL}/${name}` },
    dataDir,
    drop: async () => {
      const c = await createConnection(MYSQL_ADMIN_URL);
      await c.query(`drop database if exists \`${name}\``);
      await c.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
