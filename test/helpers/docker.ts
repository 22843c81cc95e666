import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const pexec = promisify(execFile);

/** A private Docker engine for one test suite: its own socket, data and exec roots, gone after `stop()`. */
export interface DockerEngine {
  /** `unix:///…/docker.sock`, for DOCKER_HOST */
  host: string;
  /** process.env plus DOCKER_HOST, for `docker` and `docker-compose` child processes */
  env: NodeJS.ProcessEnv;
  /** the storage driver the engine runs with (overlay2 where the kernel allows, else vfs) */
  storageDriver: string;
  /** Runs the `docker` CLI against this engine; rejects with stderr on a non-zero exit. */
  docker(args: string[], opts?: { input?: string | Buffer; cwd?: string; timeoutMs?: number }): Promise<string>;
  /** Stops the engine (and its containers) and removes its directories. */
  stop(): Promise<void>;
}

/**
 * Why a private Docker engine cannot be started here, or null when it can: needs `dockerd` and `docker` on PATH and
 * root (dockerd mounts and makes namespaces).
 */
export function dockerUnavailableReason(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  for (const bin of ['dockerd', 'docker']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0) return `${bin} is not installed`;
  }
  return null;
}

/**
 * Starts a private dockerd: no bridge and no iptables (containers use host networking or none), data and exec roots
 * in a fresh temp dir (short path: containerd's sockets live under it and unix socket paths are limited to 108
 * bytes). Tries overlay2 and falls back to vfs. Resolves once `docker info` answers (within `timeoutMs`, default
 * 60 s); rejects with dockerd's log tail when it does not come up. With `keepDataIn`, images and build cache stay
 * in that directory for the next run (one engine at a time uses it, under a lock; a second concurrent run gets a
 * throwaway data root); containers and volumes are the caller's to remove.
 */
export async function startDocker(opts: { timeoutMs?: number; storageDriver?: string; keepDataIn?: string } = {}): Promise<DockerEngine> {
  const reason = dockerUnavailableReason();
  if (reason) throw new Error(`cannot start a Docker engine: ${reason}`);
  const drivers = opts.storageDriver ? [opts.storageDriver] : ['overlay2', 'vfs'];
  let lastError: unknown;
  const release = opts.keepDataIn ? lockDataDir(opts.keepDataIn) : null;
  for (const driver of drivers) {
    try {
      const dataRoot = opts.keepDataIn && release ? path.join(opts.keepDataIn, driver) : undefined;
      const engine = await startWith(driver, opts.timeoutMs ?? 60_000, dataRoot);
      if (!release) return engine;
      return { ...engine, stop: async () => engine.stop().finally(release) };
    } catch (err) {
      lastError = err;
    }
  }
  release?.();
  throw lastError;
}

/**
 * Takes `dir`'s lock (a file holding our pid; a lock whose process is gone is taken over). Returns the release
 * function, or null when another live process holds it (the caller then uses a throwaway data root).
 */
function lockDataDir(dir: string): (() => void) | null {
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'lock');
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lock, { force: true });
    } catch {
      const pid = Number(fs.readFileSync(lock, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid > 0;
      } catch {
        alive = false;
      }
      if (alive) return null;
      fs.rmSync(lock, { force: true });
    }
  }
  return null;
}

async function startWith(storageDriver: string, timeoutMs: number, keptDataRoot?: string): Promise<DockerEngine> {
  const root = fs.mkdtempSync('/tmp/bd-');
  const sock = path.join(root, 'docker.sock');
  const host = `unix://${sock}`;
  const logFile = path.join(root, 'dockerd.log');
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      `--storage-driver=${storageDriver}`,
      `--data-root=${keptDataRoot ?? path.join(root, 'data')}`,
      `--exec-root=${path.join(root, 'exec')}`,
      `--pidfile=${path.join(root, 'dockerd.pid')}`,
      '-H',
      host,
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that dies must not leave the engine behind.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: path.join(root, 'client') };
  const docker: DockerEngine['docker'] = async (args, o = {}) => {
    const p = pexec('docker', args, { env, cwd: o.cwd, maxBuffer: 64 << 20, timeout: o.timeoutMs ?? 600_000, encoding: 'utf8' });
    if (o.input !== undefined) p.child.stdin!.end(o.input);
    try {
      return (await p).stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      throw new Error(`docker ${args.join(' ')}: ${e.stderr || e.message}`);
    }
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    try {
      const ids = (await docker(['ps', '-aq'], { timeoutMs: 30_000 })).split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-f', '-v', ...ids], { timeoutMs: 120_000 });
    } catch {
      // the engine may be gone already; SIGTERM below still cleans up
    }
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    // Mounts left by a killed engine would make rm fail; unmount anything under our root first.
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${root}/`));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) break;
    try {
      const driver = (await docker(['info', '--format', '{{.Driver}}'], { timeoutMs: 10_000 })).trim();
      if (driver === storageDriver) return { host, env, storageDriver, docker, stop };
      break;
    } catch {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
  await stop();
  throw new Error(`dockerd (${storageDriver}) did not come up:\n${tail}`);
}

/**
 * Imports a root filesystem as an image tagged `tag` (`docker import`): `rootfs` is a directory (tarred as is,
 * ownership kept) or a tar file. `changes` are Dockerfile instructions applied on import (`CMD [...]`, `ENV k=v`,
 * `USER`, `WORKDIR`, `ENTRYPOINT`, `EXPOSE`, `HEALTHCHECK` is not among them). Resolves to the image id.
 */
export async function importImage(engine: DockerEngine, rootfs: string, tag: string, changes: string[] = []): Promise<string> {
  const args = ['import', ...changes.flatMap((c) => ['--change', c])];
  if (fs.statSync(rootfs).isDirectory()) {
    const tar = spawn('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const imp = spawn('docker', [...args, '-', tag], { env: engine.env, stdio: ['pipe', 'pipe', 'pipe'] });
    tar.stdout!.pipe(imp.stdin!);
    let out = '';
    let err = '';
    imp.stdout!.on('data', (d) => (out += d));
    imp.stderr!.on('data', (d) => (err += d));
    const [tarCode, impCode] = await Promise.all([new Promise<number | null>((r) => tar.on('close', r)), new Promise<number | null>((r) => imp.on('close', r))]);
    if (tarCode !== 0 || impCode !== 0) throw new Error(`docker import ${tag} failed (tar ${tarCode}, import ${impCode}): ${err}`);
    return out.trim();
  }
  return (await engine.docker([...args, rootfs, tag])).trim();
}

/**
 * A tiny root filesystem in a fresh temp dir: Debian's static busybox as /bin/busybox with `sh` and a few applets
 * linked, plus /etc/passwd and /etc/group with root and nobody. Needs the `busybox-static` package. Returns its path;
 * the caller removes it.
 */
export function busyboxRootfs(): string {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) throw new Error('busybox is not installed (Debian package busybox-static)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rootfs-'));
  for (const d of ['bin', 'etc', 'tmp']) fs.mkdirSync(path.join(dir, d));
  fs.copyFileSync(busybox, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'echo', 'cat', 'ls', 'id', 'sleep', 'wget', 'test', 'true']) fs.symlinkSync('busybox', path.join(dir, 'bin', applet));
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  return dir;
}

/**
 * Why a suite that needs a Docker engine cannot run here, or false when it can. In CI (`CI=true`) a missing engine
 * throws: such suites fail there, never pass by not running.
 */
export function dockerSuiteSkip(): string | false {
  const unavailable = dockerUnavailableReason();
  if (unavailable && process.env.CI === 'true') throw new Error(`CI needs a Docker engine: ${unavailable}`);
  return unavailable ?? false;
}

/** The docker CLI's error output of a command that must fail; throws if it succeeds. */
export async function dockerFails(engine: DockerEngine, args: string[]): Promise<string> {
  try {
    await engine.docker(args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`docker ${args.join(' ')} unexpectedly succeeded`);
}
