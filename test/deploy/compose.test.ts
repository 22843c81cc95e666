import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { freePort } from '../../src/registry/managed.js';
import { busyboxRootfs, dockerUnavailableReason, importImage, startDocker, type DockerEngine } from '../helpers/docker.js';
import { CACHE_DIR, ensureStandins, imagesUsed, STANDINS } from './standins.js';

// The deployment as README describes it: compose.yaml built and run on a private Docker engine, with stand-ins for
// the official base images (no container registry is reachable here; see standins/README.md). In CI a missing
// engine is a failure, never a pass; elsewhere the suite says why it did not run.
const unavailable = dockerUnavailableReason();
if (unavailable && process.env.CI === 'true') throw new Error(`CI needs a Docker engine: ${unavailable}`);

const pexec = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const ADMIN_PASSWORD = `Admin-${randomBytes(6).toString('hex')}`;
const log = (msg: string) => process.stderr.write(`# deploy: ${msg}\n`);

// biome-ignore lint/suspicious/noExplicitAny: compose config and API bodies are untyped JSON this test walks
type Json = Record<string, any>;

/** Free loopback ports for every listener: the test engine has no bridge, so services share the host network. */
interface Ports {
  https: number;
  http: number;
  berth: number;
  berth2: number;
  registry: number;
  mysql: number;
}

/**
 * compose.yaml as the site runs it, moved onto the host network: every service `network_mode: host` on 127.0.0.1
 * and free ports, service names resolving to 127.0.0.1 (`extra_hosts`). These are the only changes; each replaced
 * text must be found, so compose.yaml cannot drift from what the test runs.
 */
function onHostNetwork(cfg: Json, p: Ports, site: string): Json {
  const swap = (s: string, from: string, to: string) => {
    assert.ok(s.includes(from), `expected ${from} in ${s}`);
    return s.split(from).join(to);
  };
  delete cfg.networks;
  for (const svc of Object.values(cfg.services as Record<string, Json>)) {
    delete svc.networks;
    delete svc.ports;
    svc.network_mode = 'host';
    // builds too: without a bridge, only the host network reaches the Debian and npm registries
    if (svc.build) svc.build.network = 'host';
    svc.extra_hosts = ['berth:127.0.0.1', 'berth-2:127.0.0.1', 'registry:127.0.0.1', 'mysql:127.0.0.1'];
  }
  const berthEnv = (name: string, port: number) => {
    const svc = cfg.services[name];
    svc.environment.PORT = String(port);
    svc.environment.BERTH_LISTEN = '127.0.0.1';
    svc.environment.DATABASE_URL = swap(svc.environment.DATABASE_URL, '@mysql:3306/', `@mysql:${p.mysql}/`);
    svc.environment.BERTH_REGISTRY_URL = swap(svc.environment.BERTH_REGISTRY_URL, 'registry:5000', `registry:${p.registry}`);
  };
  berthEnv('berth', p.berth);
  const cmd = cfg.services.berth.command as string[];
  cfg.services.berth.command = cmd.map((s, i) => (i === cmd.length - 1 ? swap(swap(s, '0.0.0.0:5000', `127.0.0.1:${p.registry}`), 'http://berth:8080/', `http://berth:${p.berth}/`) : s));
  if (cfg.services['berth-2']) berthEnv('berth-2', p.berth2);
  cfg.services.mysql.command = [`--port=${p.mysql}`, '--bind-address=127.0.0.1'];
  // nginx: the shipped site config with loopback listeners and the Berth ports.
  const nginx = cfg.services.nginx;
  nginx.volumes = (nginx.volumes as (string | Json)[]).map((v) => {
    const spec = typeof v === 'string' ? v : `${v.source}:${v.target}${v.read_only ? ':ro' : ''}`;
    if (!spec.includes(':/etc/nginx/conf.d/default.conf')) return v;
    const src = spec.split(':')[0]!;
    let conf = fs.readFileSync(src, 'utf8');
    conf = swap(conf, 'listen 80;', `listen 127.0.0.1:${p.http};`);
    conf = swap(conf, 'listen 443 ssl', `listen 127.0.0.1:${p.https} ssl`);
    conf = swap(conf, 'berth:8080', `berth:${p.berth}`).split('berth-2:8080').join(`berth-2:${p.berth2}`);
    const out = path.join(site, `nginx-test-${path.basename(src)}`);
    fs.writeFileSync(out, conf);
    return `${out}:/etc/nginx/conf.d/default.conf:ro`;
  });
  return cfg;
}

describe('deployment: docker compose, built and run end to end', { skip: unavailable ?? false, timeout: 1_500_000 }, () => {
  let engine: DockerEngine;
  let site: string;
  let ports: Ports;
  let ca = '';
  const started = Date.now();
  const registryHost = () => `127.0.0.1:${ports.https}`;

  const compose = async (args: string[], opts: { input?: string; timeoutMs?: number } = {}) => {
    const p = pexec('docker-compose', ['-p', 'berth', '-f', 'compose.test.json', ...args], {
      cwd: site,
      env: engine.env,
      maxBuffer: 256 << 20,
      timeout: opts.timeoutMs ?? 900_000,
    });
    if (opts.input !== undefined) p.child.stdin!.end(opts.input);
    try {
      const r = await p;
      return r.stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      throw new Error(`docker-compose ${args.join(' ')}: ${(e.stderr || e.message).slice(-6000)}`);
    }
  };
  /** Writes compose.test.json from `docker-compose config` of the given files (as the site has them), on the host network. */
  const configure = async (composeFiles: string[]) => {
    const { stdout } = await pexec('docker-compose', [...composeFiles.flatMap((f) => ['-f', f]), 'config'], { cwd: site, env: engine.env, maxBuffer: 64 << 20 });
    const parsed = await yamlToJson(stdout);
    fs.writeFileSync(path.join(site, 'compose.test.json'), JSON.stringify(onHostNetwork(parsed, ports, site), null, 2));
  };
  const api = (p: string, init: { method?: string; json?: unknown; auth?: [string, string] | null; headers?: Record<string, string>; port?: number; body?: string } = {}) =>
    httpsRequest(init.port ? `http://127.0.0.1:${init.port}${p}` : `https://${registryHost()}${p}`, ca, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.auth === null ? {} : { authorization: `Basic ${Buffer.from((init.auth ?? ['admin', ADMIN_PASSWORD]).join(':')).toString('base64')}` }),
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });
  const waitFor = async <T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 180_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${(last as Error).message})` : ''}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  /** What Berth's container printed and its health probes said: appended to a failure, so a CI log shows why. */
  const berthDiagnostics = async () => {
    const logs = await compose(['logs', '--no-color', '--tail', '40', 'berth']).catch((e: Error) => e.message);
    const id = await containerOf('berth').catch(() => '');
    const health = id ? await docker(['inspect', '--format', '{{json .State}}', id]).catch((e: Error) => e.message) : '(no container)';
    return `\n--- berth logs ---\n${logs.slice(-4000)}\n--- berth state ---\n${health.slice(-3000)}`;
  };
  const up = async () => {
    try {
      await compose(['up', '-d'], { timeoutMs: 600_000 });
      await waitFor('Berth ready through nginx', async () => {
        ca = await compose(['exec', '-T', 'nginx', 'cat', '/etc/nginx/certs/tls.crt']);
        return (await api('/readyz', { auth: null })).status === 200;
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}${await berthDiagnostics()}`);
    }
  };
  const docker = (args: string[], opts: { input?: string } = {}) => engine.docker(args, { ...opts, timeoutMs: 600_000 });
  const containerOf = async (service: string) => (await compose(['ps', '-q', service])).trim();
  const artifacts = async (repo: string) => {
    const res = await api(`/api/v1/projects/deploy/repositories/${repo}/artifacts`);
    return res.status === 200 ? (res.json().items as Json[]) : [];
  };

  let rootfs = '';
  let appDigest = '';
  /** After a restart or a restore: the app image is listed, pulls afresh, and the vulnerable one is still refused. */
  const assertImagesServedAndGated = async () => {
    assert.ok((await artifacts('app')).some((a) => a.digest === appDigest));
    await docker(['rmi', `${registryHost()}/deploy/app@${appDigest}`]);
    await docker(['pull', `${registryHost()}/deploy/app@${appDigest}`]);
    await assert.rejects(docker(['pull', `${registryHost()}/deploy/vuln:1`]), /vulnerab/i);
  };
  // The steps build on each other: after a failure the rest say so at once instead of timing out one by one.
  let failed = '';
  const step = (name: string, fn: () => Promise<void> | void) =>
    it(name, async () => {
      if (failed) throw new Error(`not run: "${failed}" failed`);
      try {
        await fn();
      } catch (err) {
        failed = name;
        throw err;
      }
    });

  before(async () => {
    // BERTH_DEPLOY_DOCKER_HOST: a running engine to use instead of a private one (to iterate on this test).
    // Otherwise a private engine whose images and build cache stay under the cache dir between runs on this machine.
    engine = process.env.BERTH_DEPLOY_DOCKER_HOST ? existingEngine(process.env.BERTH_DEPLOY_DOCKER_HOST) : await startDocker({ keepDataIn: path.join(CACHE_DIR, 'engine') });
    // Whatever an interrupted run left: containers and volumes; unused images older than a week (newer ones are
    // the build cache, which is what keeping the data is for).
    const leftovers = (await engine.docker(['ps', '-aq'])).split('\n').filter(Boolean);
    if (leftovers.length) await engine.docker(['rm', '-f', '-v', ...leftovers]);
    await engine.docker(['volume', 'prune', '-f']);
    await engine.docker(['image', 'prune', '-f', '--filter', 'until=168h']);
    const t0 = Date.now();
    const { built } = await ensureStandins(engine);
    log(`stand-in images ready (${built} built, the others from the cache) in ${Math.round((Date.now() - t0) / 1000)} s`);
    // The site: a checkout (what `build: .` needs), with .env made from the example as README says.
    site = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-site-')), 'berth');
    fs.cpSync(ROOT, site, {
      recursive: true,
      filter: (src) => !/^(node_modules|\.git|dist|data|test-artifacts|secrets|\.env)$/.test(path.relative(ROOT, src).split(path.sep)[0] ?? ''),
    });
    ports = { https: await freePort(), http: await freePort(), berth: await freePort(), berth2: await freePort(), registry: await freePort(), mysql: await freePort() };
    const env = fs
      .readFileSync(path.join(ROOT, '.env.example'), 'utf8')
      .replace(/^BERTH_HOSTNAME=.*$/m, 'BERTH_HOSTNAME=127.0.0.1')
      .replace(/^BERTH_EXTERNAL_URL=.*$/m, `BERTH_EXTERNAL_URL=https://127.0.0.1:${ports.https}`)
      .replace(/^BERTH_ADMIN_PASSWORD=.*$/m, `BERTH_ADMIN_PASSWORD=${ADMIN_PASSWORD}`)
      .replace(/^BERTH_NOTIFICATION_SECRET=.*$/m, `BERTH_NOTIFICATION_SECRET=${randomBytes(24).toString('hex')}`)
      .replace(/^MYSQL_PASSWORD=.*$/m, `MYSQL_PASSWORD=${randomBytes(12).toString('hex')}`)
      .replace(/^MYSQL_ROOT_PASSWORD=.*$/m, `MYSQL_ROOT_PASSWORD=${randomBytes(12).toString('hex')}`);
    fs.writeFileSync(path.join(site, '.env'), env);
    rootfs = busyboxRootfs();
    await configure(['compose.yaml']);
  });
  after(async () => {
    log(`whole suite took ${Math.round((Date.now() - started) / 1000)} s`);
    if (engine && site && fs.existsSync(path.join(site, 'compose.test.json'))) {
      await compose(['logs', '--no-color', '--tail', '60'])
        .then((l) => process.env.BERTH_DEPLOY_LOGS && log(l))
        .catch(() => {});
      await compose(['down', '-v', '--remove-orphans'], { timeoutMs: 120_000 }).catch(() => {});
    }
    await engine?.stop();
    if (site) fs.rmSync(path.dirname(site), { recursive: true, force: true });
    if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
  });

  it('has a stand-in for every base image compose.yaml and the Dockerfile name', () => {
    assert.deepEqual(imagesUsed(ROOT).sort(), STANDINS.map((s) => s.tag).sort());
  });

  step('builds the Berth image and starts every service; Berth runs as non-root with a working healthcheck', async () => {
    const t0 = Date.now();
    await compose(['build'], { timeoutMs: 1_200_000 });
    log(`docker compose build took ${Math.round((Date.now() - t0) / 1000)} s`);
    await up();
    const id = await containerOf('berth');
    const [info] = JSON.parse(await docker(['inspect', id])) as Json[];
    assert.equal(info!.Config.User, 'berth');
    assert.equal((await docker(['exec', id, 'id', '-u'])).trim(), '10001');
    assert.notEqual((await docker(['exec', id, 'sh', '-c', 'id -u "$(stat -c %U /proc/1)"'])).trim(), '0');
    await waitFor('berth container healthy', async () => {
      const [s] = JSON.parse(await docker(['inspect', id])) as Json[];
      return s!.State.Health?.Status === 'healthy';
    });
    const [s] = JSON.parse(await docker(['inspect', id])) as Json[];
    assert.equal(s!.State.Health.Log.at(-1).ExitCode, 0);
    // Only nginx is reachable from outside in the real deployment; here the health answers through it.
    const health = await api('/api/v1/health', { auth: null });
    assert.equal(health.status, 200);
  });

  step('docker login, push through nginx TLS; the push shows in the API and the UI, and is scanned automatically', async () => {
    assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'deploy' } })).status, 201);
    assert.equal((await api('/api/v1/projects/deploy', { method: 'PUT', json: { auto_scan: true } })).status, 200);
    assert.equal((await api('/api/v1/vulndb/import', { method: 'POST', json: [vulnRecord('DEBIAN-CVE-2026-0001', 'foo', '1.2-4')] })).status, 200);
    await docker(['login', registryHost(), '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
    await importImage(engine, writeDpkg(rootfs, 'foo', '1.2-3'), `${registryHost()}/deploy/vuln:1`);
    await importImage(engine, writeDpkg(rootfs, 'patched', '2.0-1'), `${registryHost()}/deploy/app:1`);
    for (const r of ['app', 'vuln']) await docker(['push', `${registryHost()}/deploy/${r}:1`]);
    appDigest = JSON.parse(await docker(['image', 'inspect', `${registryHost()}/deploy/app:1`]))[0].RepoDigests[0].split('@')[1];
    const listed = await waitFor('pushed artifact listed', async () => (await artifacts('app')).find((a) => a.digest === appDigest));
    assert.deepEqual(
      listed.tags.map((t: Json) => t.name),
      ['1'],
    );
    const ui = new UiSession(registryHost(), ca);
    await ui.login('admin', ADMIN_PASSWORD);
    const page = await ui.get('/projects/deploy/repositories/app');
    assert.equal(page.status, 200);
    assert.ok(page.text.includes(appDigest.slice(7, 19)), 'the UI shows the pushed digest');
    for (const [repo, vulnerable] of [
      ['vuln', true],
      ['app', false],
    ] as const) {
      const report = await waitFor(`auto-scan of ${repo}`, async () => {
        const res = await api(`/api/v1/projects/deploy/repositories/${repo}/artifacts/1/vulnerabilities`);
        const body = res.status === 200 ? res.json() : null;
        return body?.status === 'success' ? body : null;
      });
      assert.equal(JSON.stringify(report).includes('CVE-2026-0001'), vulnerable, repo);
    }
  });

  step('pulls by tag and by digest; the pull gate refuses the vulnerable image', async () => {
    await docker(['rmi', `${registryHost()}/deploy/app:1`]);
    await docker(['pull', `${registryHost()}/deploy/app:1`]);
    await docker(['pull', `${registryHost()}/deploy/app@${appDigest}`]);
    assert.equal((await api('/api/v1/projects/deploy', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high' } })).status, 200);
    await docker(['rmi', `${registryHost()}/deploy/vuln:1`]);
    await assert.rejects(docker(['pull', `${registryHost()}/deploy/vuln:1`]), /vulnerab/i);
    await docker(['pull', `${registryHost()}/deploy/app:1`]);
  });

  step('garbage collection runs (CLI in the container) and frees a deleted image', async () => {
    await importImage(engine, writeDpkg(rootfs, 'patched', '2.0-1', 'gone'), `${registryHost()}/deploy/gone:1`);
    await docker(['push', `${registryHost()}/deploy/gone:1`]);
    const gone = await waitFor('gone listed', async () => (await artifacts('gone'))[0]);
    // Its auto-scan finishes first: a scan of an artifact deleted before it ran fails for good ("no longer in the
    // registry"), and the replica step checks that every scan job succeeded.
    await waitFor('auto-scan of gone', async () => {
      const res = await api(`/api/v1/projects/deploy/repositories/gone/artifacts/${gone.digest}/vulnerabilities`);
      return res.status === 200 && res.json()?.status === 'success';
    });
    assert.equal((await api(`/api/v1/projects/deploy/repositories/gone/artifacts/${gone.digest}`, { method: 'DELETE' })).status, 204);
    const out = await compose(['exec', '-T', 'berth', 'node', 'bin/berth.mjs', 'gc', '--timeout', '300']);
    assert.match(out, /^success/m);
    assert.match(out, /"blobsDeleted": [1-9]/);
    await docker(['pull', `${registryHost()}/deploy/app@${appDigest}`]);
  });

  step('docker compose down && up keeps users, images, reports and the signing key (volumes)', async () => {
    const certBefore = await compose(['exec', '-T', 'berth', 'node', 'bin/berth.mjs', 'token-cert']);
    await compose(['down'], { timeoutMs: 300_000 });
    await up();
    assert.equal(await compose(['exec', '-T', 'berth', 'node', 'bin/berth.mjs', 'token-cert']), certBefore);
    await assertImagesServedAndGated();
  });

  step('backup as README describes, restored into fresh volumes, starts with everything there', async () => {
    const env = Object.fromEntries(
      fs
        .readFileSync(path.join(site, '.env'), 'utf8')
        .split('\n')
        .filter((l) => /^\w+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    // README's Backup and Restore: each data volume to and from <site>/<name>.tgz, through a throw-away container.
    const volumesTar = async (op: 'czf' | 'xzf') => {
      for (const [volume, archive] of [
        ['registry-data', 'registry'],
        ['berth-data', 'berth-data'],
      ]) {
        await docker([
          'run',
          '--rm',
          '--network',
          'none',
          '-v',
          `berth_${volume}:/data`,
          '-v',
          `${site}:/backup`,
          'debian:12',
          'tar',
          op,
          `/backup/${archive}.tgz`,
          '-C',
          '/data',
          ...(op === 'czf' ? ['.'] : []),
        ]);
      }
    };
    // README: Backup
    const dump = await compose(['exec', '-T', 'mysql', 'mariadb-dump', '-uroot', `-p${env.MYSQL_ROOT_PASSWORD}`, '--single-transaction', 'berth']);
    fs.writeFileSync(path.join(site, 'berth.sql'), dump);
    await volumesTar('czf');
    // Lose everything.
    await compose(['down', '-v'], { timeoutMs: 300_000 });
    assert.doesNotMatch(await docker(['volume', 'ls', '-q']), /berth_/);
    // README: Restore
    await compose(['up', '-d', 'mysql']);
    await waitFor('mysql healthy', async () => JSON.parse(await docker(['inspect', await containerOf('mysql')]))[0].State.Health?.Status === 'healthy');
    await compose(['exec', '-T', 'mysql', 'mariadb', '-uroot', `-p${env.MYSQL_ROOT_PASSWORD}`, 'berth'], { input: fs.readFileSync(path.join(site, 'berth.sql'), 'utf8') });
    await volumesTar('xzf');
    // README: Upgrade (a rebuild from the same checkout), then start.
    await compose(['build']);
    await up();
    await assertImagesServedAndGated();
  });

  step('key rotation as README describes: a new signing key, trusted by the registry after its restart', async () => {
    const before = await compose(['exec', '-T', 'berth', 'node', 'bin/berth.mjs', 'token-cert']);
    await compose(['exec', '-T', 'berth', 'rm', '/var/lib/berth/keys/token.key', '/var/lib/berth/keys/token.crt']);
    await compose(['restart', 'berth']);
    const id = await containerOf('berth');
    await waitFor('berth healthy after the restart', async () => JSON.parse(await docker(['inspect', id]))[0].State.Health?.Status === 'healthy');
    await compose(['restart', 'registry']);
    await waitFor('Berth ready again', async () => (await api('/readyz', { auth: null })).status === 200);
    const after = await compose(['exec', '-T', 'berth', 'node', 'bin/berth.mjs', 'token-cert']);
    assert.notEqual(after, before);
    assert.equal(await compose(['exec', '-T', 'registry', 'cat', '/etc/berth-registry/token.crt']), after);
    await docker(['rmi', `${registryHost()}/deploy/app@${appDigest}`]);
    await docker(['pull', `${registryHost()}/deploy/app@${appDigest}`]);
  });

  step('two replicas without a shared data volume (deploy/compose.replicas.yaml): a token from one is honoured by the other, jobs run once', async () => {
    // README: Scaling out — secrets written once, readable by the berth user, then the overlay.
    fs.mkdirSync(path.join(site, 'secrets'));
    await docker(['run', '--rm', '--network', 'none', '--user', 'root', '-v', `${site}/secrets:/out`, 'berth:local', 'sh', '-c', 'node bin/berth.mjs secrets --out /out && chown -R 10001:10001 /out']);
    await compose(['down'], { timeoutMs: 300_000 });
    await configure(['compose.yaml', 'deploy/compose.replicas.yaml']);
    await up();
    const [one, two] = [await containerOf('berth'), await containerOf('berth-2')];
    assert.ok(one && two && one !== two);
    const mounts = JSON.parse(await docker(['inspect', two]))[0].Mounts as Json[];
    assert.ok(!mounts.some((m) => m.Destination === '/var/lib/berth'), 'berth-2 has no data volume');
    for (const id of [one, two]) {
      const out = await docker(['exec', id, 'sh', '-c', 'ls /var/lib/berth/keys 2>/dev/null || true']);
      assert.doesNotMatch(out, /token\.key\.\d|notification\.secret/, 'nothing generated');
    }
    // A token from one replica, used directly against the other (and through nginx, which balances both).
    const tok = async (port: number) => (await api('/service/token?service=berth-registry&scope=repository:deploy/app:pull', { port })).json().token as string;
    for (const [from, to] of [
      [ports.berth, ports.berth2],
      [ports.berth2, ports.berth],
    ] as const) {
      const token = await tok(from);
      const res = await api(`/v2/deploy/app/manifests/${appDigest}`, {
        port: to,
        auth: null,
        headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(res.status, 200, `token from :${from} at :${to}`);
    }
    await docker(['logout', registryHost()]);
    await docker(['login', registryHost(), '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
    for (let i = 0; i < 4; i++) {
      await importImage(engine, writeDpkg(rootfs, 'patched', '2.0-1', `r${i}`), `${registryHost()}/deploy/replica:${i}`);
      await docker(['push', `${registryHost()}/deploy/replica:${i}`]);
    }
    await docker(['rmi', `${registryHost()}/deploy/app@${appDigest}`]);
    await docker(['pull', `${registryHost()}/deploy/app@${appDigest}`]);
    // Every scan job ran once (one attempt, finished), whichever replica claimed it: read from the shared database.
    const rootPw = /^MYSQL_ROOT_PASSWORD=(.*)$/m.exec(fs.readFileSync(path.join(site, '.env'), 'utf8'))![1]!;
    const db = await createConnection({ host: '127.0.0.1', port: ports.mysql, user: 'root', password: rootPw, database: 'berth' });
    try {
      const jobs = await waitFor('the replica images scanned', async () => {
        const [rows] = await db.query("select id, attempt, status, worker_id, payload, error from jobs where type = 'scan' order by id");
        const list = rows as Json[];
        const replicaScans = list.filter((j) => String(j.payload).includes('replica'));
        return replicaScans.length >= 4 && list.every((j) => ['success', 'error', 'stopped'].includes(j.status)) ? list : null;
      });
      for (const j of jobs) {
        assert.equal(j.status, 'success', `job ${j.id} (${j.payload}): ${j.error}`);
        assert.equal(j.attempt, 1, `job ${j.id} ran once`);
      }
      log(`${jobs.length} scan jobs, run by ${new Set(jobs.map((j) => j.worker_id)).size} worker(s)`);
    } finally {
      await db.end();
    }
    // GC queued from the second replica runs against the shared storage and leaves the images pullable.
    const gc = await docker(['exec', two, 'node', 'bin/berth.mjs', 'gc', '--timeout', '300']);
    assert.match(gc, /^success/m);
    await docker(['rmi', `${registryHost()}/deploy/replica:3`]);
    await docker(['pull', `${registryHost()}/deploy/replica:3`]);
  });
});

/** An engine this test did not start: used as is, left running. */
function existingEngine(host: string): DockerEngine {
  const env = { ...process.env, DOCKER_HOST: host };
  return {
    host,
    env,
    storageDriver: 'unknown',
    async docker(args, o = {}) {
      const p = pexec('docker', args, { env, cwd: o.cwd, maxBuffer: 256 << 20, timeout: o.timeoutMs ?? 600_000 });
      if (o.input !== undefined) p.child.stdin!.end(o.input);
      try {
        return (await p).stdout;
      } catch (err) {
        const e = err as Error & { stderr?: string };
        throw new Error(`docker ${args.join(' ')}: ${e.stderr || e.message}`);
      }
    },
    async stop() {},
  };
}

/** One OSV record: `name` below `fixed` in Debian 12 is vulnerable, CVSS 9.8. */
function vulnRecord(id: string, name: string, fixed: string) {
  return {
    id,
    modified: '2026-01-01T00:00:00Z',
    published: '2026-01-01T00:00:00Z',
    summary: `${id} in ${name}`,
    upstream: [id.replace(/^DEBIAN-/, '')],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
    affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
  };
}

/** The busybox rootfs as a Debian 12 system with one package installed (and a marker, so each image differs). */
function writeDpkg(rootfs: string, pkg: string, version: string, marker = ''): string {
  fs.mkdirSync(path.join(rootfs, 'var/lib/dpkg'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  fs.writeFileSync(path.join(rootfs, 'var/lib/dpkg/status'), `Package: ${pkg}\nStatus: install ok installed\nVersion: ${version}\n`);
  fs.writeFileSync(path.join(rootfs, 'etc/berth-marker'), `${pkg} ${version} ${marker}`);
  return rootfs;
}

/** docker-compose config prints YAML; python3's yaml (a docker-compose dependency) turns it into JSON. */
async function yamlToJson(yaml: string): Promise<Json> {
  return new Promise((resolve, reject) => {
    const py = spawn('python3', ['-c', 'import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout.on('data', (d) => (out += d));
    py.stderr.on('data', (d) => (err += d));
    py.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`yaml → json: ${err}`))));
    py.stdin.end(yaml);
  });
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): Json;
}

/** An HTTPS request trusting only `ca` (nginx's self-signed certificate), or plain HTTP to a loopback port. */
function httpsRequest(url: string, ca: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: init.method, headers: init.headers, ...(u.protocol === 'https:' ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end(init.body);
  });
}

/** A browser-like session against the UI: cookies kept, the login form's CSRF token used. */
class UiSession {
  private cookies = new Map<string, string>();
  constructor(
    private host: string,
    private ca: string,
  ) {}
  async get(p: string) {
    return this.send('GET', p);
  }
  async login(username: string, password: string) {
    const page = await this.get('/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(csrf, 'login form token');
    const res = await this.send('POST', '/login', new URLSearchParams({ _csrf: csrf, username, password, next: '/' }).toString());
    assert.equal(res.status, 303, res.text.slice(0, 300));
  }
  private async send(method: string, p: string, body?: string) {
    const headers: Record<string, string> = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await httpsRequest(`https://${this.host}${p}`, this.ca, { method, headers, body });
    const set = res.headers['set-cookie'];
    for (const sc of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = sc.split(';');
      const i = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    return res;
  }
}
