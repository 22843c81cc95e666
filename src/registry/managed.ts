import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../log.js';
import { registryConfigYaml, type RegistryConfigInput } from './config-file.js';

/** A free loopback port (bound, read, released: the registry binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ManagedRegistryOptions {
  bin: string;
  dataDir: string;
  log: Logger;
  config: Omit<RegistryConfigInput, 'listenAddr' | 'storageDir'>;
  /** the loopback port to try first (default: a free one); when it cannot be bound, a free one is used */
  port?: number;
}

/** Start attempts before giving up: each after a child that exited while starting (its port taken meanwhile). */
const START_ATTEMPTS = 5;

/**
 * The registry as a supervised child: config written under the data dir, started on a free loopback port,
 * restarted with exponential backoff (1 s … 30 s) when it dies, stopped with SIGTERM (then SIGKILL) on shutdown.
 * A free port is probed and then bound by the child, so another process can take it in between: a child that exits
 * while starting is started again on another port (up to {@link START_ATTEMPTS} times), and so is a restart.
 */
export class ManagedRegistry {
  private child: ChildProcess | null = null;
  private port = 0;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private up = false;
  private starting = false;
  private lastOutput: string[] = [];
  readonly storageDir: string;
  readonly configPath: string;
  private readonly pidPath: string;

  constructor(private readonly opts: ManagedRegistryOptions) {
    this.storageDir = path.join(opts.dataDir, 'registry', 'storage');
    this.configPath = path.join(opts.dataDir, 'registry', 'config.yml');
    this.pidPath = path.join(opts.dataDir, 'registry', 'registry.pid');
  }

  /** A registry left running by a core that was killed (-9) would hold the storage: stop it first. */
  private reapOrphan(): void {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.pidPath, 'utf8').trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1) return;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(this.configPath)) {
        process.kill(pid, 'SIGKILL');
        this.opts.log.warn({ pid }, 'stopped an orphaned registry from an earlier run');
      }
    } catch {
      /* gone already, or not ours */
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get healthy(): boolean {
    return this.up;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the registry and resolves once it answers on /v2/; retried on another port when the child exits at once. */
  async start(): Promise<void> {
    fs.mkdirSync(this.storageDir, { recursive: true, mode: 0o700 });
    this.reapOrphan();
    this.stopping = false;
    for (let attempt = 1; ; attempt++) {
      await this.configure(attempt === 1 ? this.opts.port : undefined);
      this.starting = true;
      try {
        this.spawn();
        await this.waitReady(20_000);
        return;
      } catch (err) {
        const exited = this.child === null;
        if (!exited || attempt >= START_ATTEMPTS || this.stopping) throw err;
        this.opts.log.warn({ port: this.port, attempt, output: this.lastOutput.join(' | ').slice(0, 1000) }, 'registry exited while starting (port taken?); retrying on another port');
      } finally {
        this.starting = false;
      }
    }
  }

  /** Picks the port (the given one, else a free one) and writes the config for it. */
  private async configure(port?: number): Promise<void> {
    this.port = port ?? (await freePort());
    fs.writeFileSync(this.configPath, registryConfigYaml({ ...this.opts.config, listenAddr: `127.0.0.1:${this.port}`, storageDir: this.storageDir }), { mode: 0o600 });
  }

  private spawn(): void {
    const { log } = this.opts;
    const child = spawn(this.opts.bin, ['serve', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    this.child = child;
    if (child.pid) fs.writeFileSync(this.pidPath, String(child.pid), { mode: 0o600 });
    this.lastOutput = [];
    const forward = (buf: Buffer) => {
      for (const line of buf.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        log.debug({ registry: line.slice(0, 2000) }, 'registry output');
        this.lastOutput = [...this.lastOutput.slice(-4), line.slice(0, 500)];
      }
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('error', (err) => log.error({ err }, 'registry failed to start'));
    child.on('exit', (code, signal) => {
      this.up = false;
      if (this.child === child) this.child = null;
      if (this.stopping || this.starting) return; // start() retries on its own
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.restarts, 5));
      this.restarts++;
      log.warn({ code, signal, restartInMs: delay }, 'registry exited; restarting');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.stopping) return;
        // A child that died at once most likely found its port taken: the next restart moves to a free one.
        const move = this.restarts > 1 ? this.configure() : Promise.resolve();
        move
          .then(() => this.spawn())
          .then(() => this.waitReady(20_000))
          .then(
            () => (this.restarts = 0),
            (err) => log.error({ err }, 'registry did not come back'),
          );
      }, delay);
    });
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !this.stopping) {
      if (this.starting && this.child === null) throw new Error(`registry exited while starting on ${this.url}: ${this.lastOutput.join(' | ').slice(0, 500)}`);
      if (await this.probe()) {
        this.up = true;
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`registry not ready on ${this.url} after ${timeoutMs} ms`);
  }

  /** One readiness probe: /v2/ answers 200 or 401 when the registry is serving. */
  async probe(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      // Only a registry says so: another process that took the port answers something else.
      this.up = (res.status === 200 || res.status === 401) && (res.headers.get('docker-distribution-api-version') ?? '').startsWith('registry/2');
    } catch {
      this.up = false;
    }
    return this.up;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this.up = false;
  }
}
