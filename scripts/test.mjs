#!/usr/bin/env node
// Runs every test file under test/ on node's own runner (TypeScript through tsx), so the closing lines are the
// runner's standard summary. Integration suites run each case on SQLite and on MariaDB/MySQL.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.ts')) files.push(path.relative(root, p));
  }
};
for (const sub of ['unit', 'integration', 'e2e', 'deploy']) if (fs.existsSync(path.join(root, 'test', sub))) walk(path.join(root, 'test', sub));
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.BERTH_TEST_CONCURRENCY ?? 2}`, ...selected];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } });
process.exit(r.status ?? 1);
