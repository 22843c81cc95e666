import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Services } from '../../src/context.js';
import type { DB, Dialect } from '../../src/db/connect.js';
import { createLogger } from '../../src/log.js';
import { freePort } from '../../src/registry/managed.js';
import { createHttpServer } from '../../src/server.js';
import { wireServices, type Wired } from '../../src/wiring.js';
import { ADMIN_PASSWORD, requestInit, type RequestOptions } from './app.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './db.js';
import { responseChecker } from './openapi.js';

const pexec = promisify(execFile);

export interface Instance {
  url: string;
  /** host:port as clients write it in image references */
  host: string;
  port: number;
  config: Config;
  services: Services;
  /** the database handle (the app itself reaches data only through services) */
  db: DB;
  dialect: Dialect;
  wired: Wired;
  database: TestDatabase;
  api(path: string, init?: RequestOptions): Promise<Response>;
  /** Stops core (and its managed registry); the DB and data dir stay for a restart. */
  stop(): Promise<void>;
  /** Starts core again on the same port, DB and data dir. */
  restart(): Promise<Instance>;
  /** Stops and drops everything. */
  destroy(): Promise<void>;
}

/** A real Berth: HTTP server on a loopback port, managed (or external) registry, notifications flowing. */
export async function startInstance(dialect: TestDialect, env: Record<string, string> = {}, reuse?: { database: TestDatabase; port: number }): Promise<Instance> {
  const database = reuse?.database ?? (await createTestDatabase(dialect));
  const port = reuse?.port ?? (await freePort());
  const config = loadConfig({
    PORT: String(port),
    BERTH_LISTEN: '127.0.0.1',
    BERTH_DATA_DIR: database.dataDir,
    DATABASE_URL: database.config.dialect === 'mysql' ? database.config.url : `sqlite:${database.config.url}`,
    BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD,
    BERTH_LOG_LEVEL: process.env.BERTH_TEST_LOG ?? 'silent',
    ...env,
  });
  const wired = await wireServices(config, createLogger(config.logLevel));
  const server: Server = createHttpServer(wired.services, createApp(wired.services));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await wired.startBackground(port);
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const inst: Instance = {
    url,
    host: `127.0.0.1:${port}`,
    port,
    config,
    services: wired.services,
    db: wired.db,
    dialect: wired.dialect,
    wired,
    database,
    // Checked against the OpenAPI document, as TestApp.req is.
    async api(p, init = {}) {
      const res = await fetch(url + p, { ...requestInit(init), redirect: 'manual' });
      await responseChecker().check((init.method ?? 'GET').toUpperCase(), p, res);
      return res;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await wired.close();
    },
    async restart() {
      await inst.stop();
      return startInstance(dialect, env, { database, port });
    },
    async destroy() {
      await inst.stop();
      await database.drop();
    },
  };
  return inst;
}

/** Runs a command; resolves with its output, or rejects with stderr in the message. */
export async function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await pexec(cmd, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...opts.env } });
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`, { cause: err });
  }
}

/** Whether a command fails, and its stderr. */
export async function fails(cmd: string, args: string[]): Promise<string> {
  try {
    await pexec(cmd, args, { timeout: 120_000 });
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? String(err);
  }
  throw new Error(`${cmd} ${args.join(' ')} unexpectedly succeeded`);
}

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-images-'));

/**
 * Builds a small OCI image offline with umoci: one layer holding `files` plus a random file, so every image has a
 * unique layer (skopeo would otherwise mount blobs it has seen instead of uploading them). Returns `oci:<dir>:<tag>`.
 */
export async function buildImage(files: Record<string, string> = {}, tag = 'latest'): Promise<string> {
  const dir = path.join(WORK, randomBytes(6).toString('hex'));
  const layout = path.join(dir, 'layout');
  const bundle = path.join(dir, 'bundle');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:base`]);
  await run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
  const all = { 'etc/berth-test-id': randomBytes(16).toString('hex'), ...files };
  for (const [rel, content] of Object.entries(all)) {
    const p = path.join(bundle, 'rootfs', rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  await run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  fs.rmSync(bundle, { recursive: true, force: true });
  return `oci:${layout}:${tag}`;
}

export const skopeo = (...args: string[]) => run('skopeo', args);

/** `skopeo copy` to the instance with credentials (or anonymous when creds is null). */
export function push(src: string, dest: string, creds: [string, string] | null) {
  return skopeo('copy', '--retry-times', '0', ...(creds ? ['--dest-creds', creds.join(':')] : ['--dest-no-creds']), '--dest-tls-verify=false', src, dest);
}

/** The manifest digest skopeo sees for a reference. */
export async function inspectDigest(ref: string, creds: [string, string] | null): Promise<string> {
  const { stdout } = await skopeo('inspect', '--retry-times', '0', ...(creds ? ['--creds', creds.join(':')] : ['--no-creds']), '--tls-verify=false', '--format', '{{.Digest}}', ref);
  return stdout.trim();
}

/** Polls until fn returns a truthy value (registry notifications are asynchronous). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}

/** `sha256:<hex>` of some bytes, as the registry names a blob or manifest. */
export const sha256Of = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A registry token from Berth's /service/token for `repo` (pull and push), as `creds` (admin by default). */
export async function registryToken(core: Instance, repo: string, creds: [string, string] = ['admin', ADMIN_PASSWORD]): Promise<string> {
  const res = await core.api(`/service/token?service=berth-registry&scope=repository:${repo}:pull,push`, { auth: creds });
  return ((await res.json()) as { token: string }).token;
}

/** Uploads a blob through Berth's /v2 (monolithic: POST, then PUT with the digest); asserts 202 and 201; its digest. */
export async function uploadBlob(core: Instance, repo: string, blob: Buffer): Promise<string> {
  const auth = { authorization: `Bearer ${await registryToken(core, repo)}` };
  const start = await fetch(`${core.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: auth });
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get('location')!, core.url);
  loc.searchParams.set('digest', sha256Of(blob));
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(blob), headers: { ...auth, 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
  return sha256Of(blob);
}
