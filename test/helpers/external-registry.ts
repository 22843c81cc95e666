import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { freePort } from '../../src/registry/managed.js';
import { eventually, run } from './registry.js';

/** A docker-registry run the way compose runs it, beside Berth instead of under it. */
export interface ExternalRegistry {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** its storage root, which the cores share (garbage collection, direct blob reads) */
  storage: string;
  configPath: string;
  /** BERTH_REGISTRY_URL, BERTH_REGISTRY_CONFIG, BERTH_REGISTRY_STORAGE and BERTH_EXTERNAL_URL for a core using it */
  env: Record<string, string>;
  stop(): void;
}

/**
 * Starts a docker-registry configured by the same `berth registry-config` command compose runs, with its storage in
 * `dataDir` (the cores' data dir: the registry trusts the token certificate found there) and its notifications sent
 * to the core at `corePort`, whose URL is also the external one. Resolves once `/v2/` answers.
 */
export async function startExternalRegistry(dataDir: string, corePort: number): Promise<ExternalRegistry> {
  const port = await freePort();
  const storage = path.join(dataDir, 'registry-storage');
  const configPath = path.join(dataDir, 'registry.yml');
  const externalUrl = `http://127.0.0.1:${corePort}`;
  const conf = await run(
    'node',
    [
      'bin/berth.mjs',
      'registry-config',
      '--listen',
      `127.0.0.1:${port}`,
      '--storage',
      storage,
      '--cert',
      path.join(dataDir, 'keys', 'token.crt'),
      '--notify-url',
      `${externalUrl}/service/notifications`,
    ],
    { env: { BERTH_DATA_DIR: dataDir, BERTH_EXTERNAL_URL: externalUrl } },
  );
  fs.writeFileSync(configPath, conf.stdout);
  const child: ChildProcess = spawn('docker-registry', ['serve', configPath], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${url}/v2/`).catch(() => null))?.status === 401);
  return {
    url,
    port,
    storage,
    configPath,
    env: { BERTH_REGISTRY_URL: url, BERTH_REGISTRY_CONFIG: configPath, BERTH_REGISTRY_STORAGE: storage, BERTH_EXTERNAL_URL: externalUrl },
    stop: () => void child.kill('SIGKILL'),
  };
}

/** A request the gate holds back: `arrived` resolves when it reaches the gate; it goes on to the registry on `release()`. */
export interface HeldRequest {
  arrived: Promise<{ method: string; path: string }>;
  release(): void;
}

/** A loopback proxy in front of a registry that passes everything through, except the requests a test holds back. */
export interface RegistryGate {
  /** `http://127.0.0.1:<port>`, for BERTH_REGISTRY_URL */
  url: string;
  /**
   * Holds back the next request matching `match` (method, and path with its query) until `release()`: a registry
   * call made slow for exactly as long as a test needs, with no sleeps. Each hold catches one request.
   */
  hold(match: (method: string, path: string) => boolean): HeldRequest;
  close(): Promise<void>;
}

/**
 * Starts a {@link RegistryGate} forwarding to `target` (the registry's base URL). Status lines, headers and bodies
 * pass through unchanged, streamed both ways.
 */
export async function startRegistryGate(target: string): Promise<RegistryGate> {
  const upstream = new URL(target);
  const holds: { match: (method: string, path: string) => boolean; arrive: (r: { method: string; path: string }) => void; released: Promise<void>; taken: boolean }[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const p = req.url ?? '/';
    const held = holds.find((h) => !h.taken && h.match(method, p));
    const forward = () => {
      const up = http.request({ host: upstream.hostname, port: upstream.port, method, path: p, headers: req.headers, agent }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (!held) return forward();
    held.taken = true;
    req.pause();
    held.arrive({ method, path: p });
    void held.released.then(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hold(match) {
      let arrive!: (r: { method: string; path: string }) => void;
      let release!: () => void;
      const arrived = new Promise<{ method: string; path: string }>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ match, arrive, released, taken: false });
      return { arrived, release };
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
