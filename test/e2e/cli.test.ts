import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../src/registry/managed.js';
import { testDialects } from '../helpers/db.js';
import { eventually, run } from '../helpers/registry.js';

describe('berth CLI', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
  const env = { BERTH_DATA_DIR: dir, BERTH_EXTERNAL_URL: 'https://registry.example.org', DATABASE_URL: `sqlite:${dir}/berth.db` };
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('migrate applies migrations once, then reports the database up to date', async () => {
    assert.match((await run('node', ['bin/berth.mjs', 'migrate'], { env })).stdout, /applied: .*accounts-projects/);
    assert.match((await run('node', ['bin/berth.mjs', 'migrate'], { env })).stdout, /up to date/);
  });

  it('registry-config prints a config the registry runs with, trusting core and notifying it', async () => {
    const port = await freePort();
    const { stdout } = await run(
      'node',
      [
        'bin/berth.mjs',
        'registry-config',
        '--listen',
        `127.0.0.1:${port}`,
        '--storage',
        `${dir}/storage`,
        '--cert',
        `${dir}/keys/token.crt`,
        '--notify-url',
        'http://127.0.0.1:1/service/notifications',
      ],
      { env },
    );
    assert.match(stdout, /realm: "https:\/\/registry\.example\.org\/service\/token"/);
    assert.doesNotMatch(stdout, /cache:/, 'no blob descriptor cache');
    const secret = fs.readFileSync(`${dir}/keys/notification.secret`, 'utf8');
    assert.ok(stdout.includes(`Bearer ${secret}`));
    fs.writeFileSync(`${dir}/registry.yml`, stdout);
    const child = spawn('docker-registry', ['serve', `${dir}/registry.yml`], { stdio: 'ignore' });
    try {
      const res = await eventually(async () => fetch(`http://127.0.0.1:${port}/v2/`).catch(() => null));
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="https://registry.example.org/service/token",service="berth-registry"');
    } finally {
      child.kill('SIGKILL');
    }
  });

  for (const dialect of testDialects())
    it(`admin reset-password, vulndb import, gc and reconcile work against a running Berth, audited as the CLI's [${dialect}]`, async () => {
      const { startInstance } = await import('../helpers/registry.js');
      const b = await startInstance(dialect);
      try {
        const env2 = { BERTH_DATA_DIR: b.config.dataDir, DATABASE_URL: b.config.database.dialect === 'mysql' ? b.config.database.url : `sqlite:${b.config.database.url}` };
        await b.api('/api/v1/users', { method: 'POST', auth: ['admin', 'admin-Passw0rd!'], json: { username: 'carol', password: 'carol-pw-1234' } });
        const out = (await run('node', ['bin/berth.mjs', 'admin', 'reset-password', 'carol'], { env: env2 })).stdout;
        const pw = /new password of carol: (\S+)/.exec(out)?.[1];
        assert.ok(pw);
        assert.equal((await b.api('/api/v1/users/current', { auth: ['carol', pw] })).status, 200);
        assert.equal((await b.api('/api/v1/users/current', { auth: ['carol', 'carol-pw-1234'] })).status, 401);
        await assert.rejects(run('node', ['bin/berth.mjs', 'admin', 'reset-password', 'nobody'], { env: env2 }), /no user "nobody"/);
        const file = `${b.config.dataDir}/osv.json`;
        fs.writeFileSync(file, JSON.stringify([{ id: 'CLI-0001', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'x' }, versions: ['1'] }] }]));
        assert.match((await run('node', ['bin/berth.mjs', 'vulndb', 'import', file], { env: env2 })).stdout, /1 new/);
        const gc = await run('node', ['bin/berth.mjs', 'gc', '--dry-run', '--timeout', '60'], { env: env2 });
        assert.match(gc.stdout, /success/);
        assert.match(gc.stdout, /"dryRun": true/);
        const reconcile = await run('node', ['bin/berth.mjs', 'reconcile', '--timeout', '60'], { env: env2 });
        assert.match(reconcile.stdout, /success/);
        // Every state change through the CLI is in the audit log, as the same change through REST or the UI would be,
        // by the operator `(cli)` (a name no account can have) from `local`.
        const job = (out: string) => Number(/as job (\d+)/.exec(out)?.[1]);
        const audit = async (action: string) => {
          const res = await b.api(`/api/v1/audit-logs?username=${encodeURIComponent('(cli)')}&action=${action}`, { auth: ['admin', 'admin-Passw0rd!'] });
          assert.equal(res.status, 200);
          const body = (await res.json()) as { items: { username: string; action: string; resource_type: string; resource: string; client_ip: string; detail: Record<string, unknown> | null }[] };
          return body.items;
        };
        assert.deepEqual(
          (await audit('gc')).map((e) => [e.username, e.client_ip, e.resource_type, e.resource, e.detail]),
          [['(cli)', 'local', 'system', 'registry', { job: job(gc.stdout), dry_run: true, delete_untagged: false }]],
        );
        assert.deepEqual(
          (await audit('reconcile')).map((e) => [e.username, e.client_ip, e.resource_type, e.resource, e.detail]),
          [['(cli)', 'local', 'system', 'registry', { job: job(reconcile.stdout) }]],
        );
        assert.deepEqual(
          (await audit('reset_password')).map((e) => [e.username, e.resource_type, e.resource]),
          [['(cli)', 'user', 'carol']],
        );
        assert.deepEqual(
          (await audit('import')).map((e) => [e.username, e.resource_type, e.resource, e.detail?.imported]),
          [['(cli)', 'vulndb', 'osv.json', 1]],
        );
        const cliJob = await (await b.api(`/api/v1/jobs/${job(reconcile.stdout)}`, { auth: ['admin', 'admin-Passw0rd!'] })).json();
        assert.equal(cliJob.type, 'reconcile');
        // No account can pass for the operator in the audit log: `(cli)` is no username, and `cli` is reserved too.
        const taken = await b.api('/api/v1/users', { method: 'POST', auth: ['admin', 'admin-Passw0rd!'], json: { username: 'cli', password: 'cli-pw-12345' } });
        assert.equal(taken.status, 400);
      } finally {
        await b.destroy();
      }
    });

  it('unknown commands and options fail with a usage message', async () => {
    await assert.rejects(run('node', ['bin/berth.mjs', 'frobnicate'], { env }), /unknown command/);
    await assert.rejects(run('node', ['bin/berth.mjs', 'registry-config', '--bogus', 'x'], { env }), /unknown option --bogus/);
  });

  it('npm start listens on loopback by default, prints its URL, and serves every interface only when BERTH_LISTEN says so', async () => {
    // 127.0.0.2 is loopback too, but a socket bound to 127.0.0.1 does not accept it: it stands in for "another interface".
    const start = async (extra: Record<string, string>) => {
      const port = await freePort();
      const data = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-start-'));
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: {
          ...process.env,
          PORT: String(port),
          BERTH_DATA_DIR: data,
          BERTH_ADMIN_PASSWORD: 'admin-Passw0rd!',
          BERTH_LOG_LEVEL: 'silent',
          BERTH_EXTERNAL_URL: '',
          DATABASE_URL: '',
          BERTH_LISTEN: '',
          ...extra,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const stop = async () => {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
        fs.rmSync(data, { recursive: true, force: true });
      };
      try {
        const line = await eventually(async () => /Berth is serving (\S+)/.exec(out), 60_000);
        return { port, url: line[1]!, stop };
      } catch (err) {
        await stop();
        throw err;
      }
    };
    const a = await start({});
    try {
      assert.equal(a.url, `http://127.0.0.1:${a.port}`);
      assert.equal((await fetch(`${a.url}/livez`)).status, 200);
      await assert.rejects(fetch(`http://127.0.0.2:${a.port}/livez`), 'not reachable on another address');
    } finally {
      await a.stop();
    }
    const b = await start({ BERTH_LISTEN: '0.0.0.0' });
    try {
      assert.equal(b.url, `http://127.0.0.1:${b.port}`);
      assert.equal((await fetch(`http://127.0.0.2:${b.port}/livez`)).status, 200);
    } finally {
      await b.stop();
    }
  });
  it('a first start without BERTH_ADMIN_PASSWORD prints the generated password once, on stderr, set apart from the JSON log', async () => {
    const port = await freePort();
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-first-'));
    const start = async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, PORT: String(port), BERTH_DATA_DIR: data, BERTH_ADMIN_PASSWORD: '', BERTH_LOG_LEVEL: 'info', BERTH_EXTERNAL_URL: '', DATABASE_URL: '', BERTH_LISTEN: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const io = { out: '', err: '' };
      child.stdout.on('data', (d: Buffer) => (io.out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (io.err += d.toString()));
      const stop = async () => {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      };
      try {
        await eventually(async () => /Berth is serving/.test(io.out), 60_000);
        // A request, so the JSON request log has lines around the banner's time.
        await fetch(`http://127.0.0.1:${port}/livez`);
      } catch (err) {
        await stop();
        throw err;
      }
      return { io, stop };
    };
    try {
      const first = await start();
      let password: string;
      try {
        const banner = /\n(={78})\n {2}Berth created user "admin" with this generated password:\n\n {6}(\S+)\n\n {2}Sign in and change it[^\n]*\n\1\n/.exec(first.io.err);
        assert.ok(banner, first.io.err);
        password = banner[2]!;
        assert.equal(first.io.err.split(password).length, 2, 'printed once');
        assert.ok(!first.io.out.includes(password), 'never on stdout, among the JSON log lines');
        assert.match(first.io.out, /^\{"level":/m, 'the JSON log is on stdout');
        const me = await fetch(`http://127.0.0.1:${port}/api/v1/users/current`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } });
        assert.equal(me.status, 200);
      } finally {
        await first.stop();
      }
      const second = await start();
      await second.stop();
      assert.doesNotMatch(second.io.err, /generated password|={78}/, 'a restart prints no password');
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});
