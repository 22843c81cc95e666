import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { describe, it } from 'node:test';

/** Runs `node scripts/test.mjs ...args` outside this runner's context; resolves with its exit code and output. */
function runSuite(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT; // otherwise the nested runner reports to us instead of running on its own
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/test.mjs', ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe('scripts/test.mjs', () => {
  it('fails when a filter matches no test file', async () => {
    const r = await runSuite(['no-such-test-file-xyz'], {});
    assert.equal(r.code, 1);
    assert.match(r.out, /no test file matches "no-such-test-file-xyz"/);
  });

  it('starts a throw-away MariaDB on a loopback port when asked (as when none answers), runs on it and removes it', async () => {
    const before = new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('berth-mariadb-')));
    const r = await runSuite(['test/integration/mysql-server'], { BERTH_TEST_MARIADB: 'own', BERTH_TEST_DIALECTS: 'mysql' });
    assert.equal(r.code, 0, r.out);
    const port = Number(/started a throw-away one at 127\.0\.0\.1:(\d+)/.exec(r.out)?.[1]);
    assert.ok(port > 0, r.out);
    assert.match(r.out, /ℹ pass 1\b/);
    assert.equal(await answers(port), false, 'stopped at the end');
    const left = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('berth-mariadb-') && !before.has(n));
    assert.deepEqual(left, [], 'its data dir is gone');
  });

  it('fails clearly when BERTH_TEST_MYSQL_URL names a server that does not answer', async () => {
    const r = await runSuite(['test/integration/mysql-server'], { BERTH_TEST_MYSQL_URL: 'mysql://root@127.0.0.1:1', BERTH_TEST_DIALECTS: 'mysql' });
    assert.equal(r.code, 1);
    assert.match(r.out, /nothing answers at BERTH_TEST_MYSQL_URL/);
  });
});
