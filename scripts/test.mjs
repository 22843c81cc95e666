#!/usr/bin/env node
// Runs every test file under test/ on node's own runner (TypeScript through tsx), so the closing lines are the
// runner's standard summary. Integration suites run each case on SQLite and on MariaDB/MySQL: when no server
// answers at BERTH_TEST_MYSQL_URL (default root@127.0.0.1:3306), this script starts a throw-away MariaDB of its
// own (fresh data dir, a free loopback port) and removes it at the end; BERTH_TEST_MARIADB=own always does.
// A filter that matches no test file fails.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
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
for (const sub of ['unit', 'integration', 'e2e', 'security', 'deploy']) if (fs.existsSync(path.join(root, 'test', sub))) walk(path.join(root, 'test', sub));
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (selected.length === 0) {
  // A typo in a filter must not look like a green run.
  console.error(`test: no test file matches ${only.map((o) => JSON.stringify(o)).join(' or ')} (${files.length} files under test/)`);
  process.exit(1);
}

/** Whether something accepts TCP connections at host:port within timeoutMs. */
const reachable = (host, port, timeoutMs = 1000) =>
  new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const which = (name) => ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')].map((d) => path.join(d, name)).find((p) => fs.existsSync(p));

/**
 * Starts MariaDB on a free loopback port with its own data dir; root has no password (as the suite expects).
 * Returns the admin URL and a stop function that ends the server and removes its files.
 */
async function startThrowawayMariadb() {
  const installDb = which('mariadb-install-db') ?? which('mysql_install_db');
  const server = which('mariadbd') ?? which('mysqld');
  if (!installDb || !server) throw new Error('no MariaDB server found: run `npm run setup` (installs mariadb-server), or set BERTH_TEST_MYSQL_URL, or BERTH_TEST_DIALECTS=sqlite');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-mariadb-'));
  const port = await freePort();
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const user = asRoot ? ['--user=root'] : [];
  const init = spawnSync(installDb, ['--no-defaults', `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`mariadb-install-db failed: ${init.stderr || init.stdout}`);
  const child = spawn(
    server,
    ['--no-defaults', `--datadir=${dir}/data`, '--bind-address=127.0.0.1', `--port=${port}`, `--socket=${dir}/mysqld.sock`, `--pid-file=${dir}/mysqld.pid`, '--skip-log-bin', '--innodb-buffer-pool-size=128M', '--max-connections=500', ...user],
    { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'error.log'), 'a')] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!(await reachable('127.0.0.1', port, 500))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000);
      await stop();
      throw new Error(`throw-away MariaDB did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url: `mysql://root@127.0.0.1:${port}`, stop };
}

const env = { ...process.env, NODE_ENV: 'test' };
const dialects = (process.env.BERTH_TEST_DIALECTS ?? 'sqlite,mysql').split(',').map((s) => s.trim());
let stopMariadb = async () => {};
if (dialects.includes('mysql')) {
  const u = new URL(process.env.BERTH_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306');
  const own = process.env.BERTH_TEST_MARIADB === 'own';
  if (own || !(await reachable(u.hostname, Number(u.port || 3306)))) {
    if (process.env.BERTH_TEST_MYSQL_URL && !own) {
      console.error(`test: nothing answers at BERTH_TEST_MYSQL_URL (${u.host})`);
      process.exit(1);
    }
    try {
      const m = await startThrowawayMariadb();
      console.log(`test: ${own ? 'BERTH_TEST_MARIADB=own' : `no MariaDB at ${u.host}`}; started a throw-away one at ${new URL(m.url).host}`);
      env.BERTH_TEST_MYSQL_URL = m.url;
      stopMariadb = m.stop;
    } catch (err) {
      console.error(`test: ${err.message}`);
      process.exit(1);
    }
  }
}

const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.BERTH_TEST_CONCURRENCY ?? 2}`, ...selected];
const runner = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env });
// Ctrl-C reaches the runner through the terminal's process group; wait for it, then clean up.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => runner.kill(sig));
const status = await new Promise((resolve) => runner.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
await stopMariadb();
process.exit(status);
