import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { importImage, type DockerEngine } from '../helpers/docker.js';

const pexec = promisify(execFile);
const RECIPES = path.join(path.dirname(new URL(import.meta.url).pathname), 'standins');

/** Where the debootstrap rootfs and the saved stand-in images stay between runs on one machine. */
export const CACHE_DIR = process.env.BERTH_DEPLOY_CACHE ?? '/var/cache/berth-deploy-test';
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const BASE = 'berth-deploy/debian:bookworm';

/** The stand-ins, each under the name compose.yaml or the Dockerfile pulls. */
export const STANDINS: { recipe: string; tag: string }[] = [
  { recipe: 'node', tag: 'node:20.19-bookworm-slim' },
  { recipe: 'registry', tag: 'registry:2.8.3' },
  { recipe: 'mariadb', tag: 'mariadb:11.4' },
  { recipe: 'nginx', tag: 'nginx:1.27-alpine' },
];

/** This machine's CA bundle, which the node stand-in trusts (npm in the Berth build goes through it). */
const caBundle = () => process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';
const log = (msg: string) => process.stderr.write(`# deploy: ${msg}\n`);

/** Tags compose.yaml and the Dockerfile name, read from them (so a version bump there cannot outrun the stand-ins). */
export function imagesUsed(root: string): string[] {
  const froms = [...fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
  const images = [...fs.readFileSync(path.join(root, 'compose.yaml'), 'utf8').matchAll(/^\s+image:\s+(\S+)/gm)].map((m) => m[1]!);
  return [...new Set([...froms, ...images])].filter((i) => i !== 'berth:local');
}

/** A cache key for one stand-in: its recipe files, this builder, and for the node one this Node and CA bundle. */
function recipeHash(recipe: string): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(path.relative(RECIPES, p)).update('\0').update(fs.readFileSync(p));
    }
  };
  walk(path.join(RECIPES, recipe));
  h.update(fs.readFileSync(new URL(import.meta.url)));
  if (recipe === 'node') {
    h.update(process.version);
    h.update(fs.existsSync(caBundle()) ? fs.readFileSync(caBundle()) : '');
  }
  return h.digest('hex').slice(0, 16);
}

async function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  try {
    return (await pexec(cmd, args, { ...opts, maxBuffer: 256 << 20, timeout: 1_800_000 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).slice(-4000)}\n${(e.stdout ?? '').slice(-4000)}`);
  }
}

/**
 * The Debian bookworm minbase root filesystem as a tar under CACHE_DIR, made once with debootstrap: sources for
 * bookworm, -updates and -security, no recommends, no daemon starts during package installs (policy-rc.d).
 */
async function baseRootfsTar(): Promise<string> {
  const tar = path.join(CACHE_DIR, 'bookworm-minbase-1.tar');
  if (fs.existsSync(tar)) return tar;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(CACHE_DIR, 'rootfs-'));
  try {
    log('debootstrap --variant=minbase bookworm (once per machine)');
    await sh('debootstrap', ['--variant=minbase', 'bookworm', dir, DEBIAN_MIRROR]);
    fs.writeFileSync(
      path.join(dir, 'etc/apt/sources.list'),
      `deb ${DEBIAN_MIRROR} bookworm main\ndeb ${DEBIAN_MIRROR} bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n`,
    );
    fs.writeFileSync(path.join(dir, 'etc/apt/apt.conf.d/90berth-standin'), 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n');
    fs.writeFileSync(path.join(dir, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const f of fs.readdirSync(path.join(dir, d))) if (f !== 'partial' && f !== 'lock') fs.rmSync(path.join(dir, d, f), { recursive: true, force: true });
    }
    await sh('tar', ['--numeric-owner', '-C', dir, '-cf', `${tar}.tmp`, '.']);
    fs.renameSync(`${tar}.tmp`, tar);
    return tar;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Makes every stand-in image (see standins/README.md) exist in `engine`: each loaded from CACHE_DIR when a save of
 * the same recipe is there, else built (base imported from the debootstrap tar, the others with `docker build
 * --network host` from Debian packages) and saved for the next run. Returns how many were built.
 */
export async function ensureStandins(engine: DockerEngine): Promise<{ built: number }> {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tar = await baseRootfsTar();
  const haveBase = await engine.docker(['image', 'inspect', BASE]).then(
    () => true,
    () => false,
  );
  if (!haveBase) await importImage(engine, tar, BASE, ['CMD ["bash"]', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  await engine.docker(['tag', BASE, 'debian:12']);
  let built = 0;
  for (const s of STANDINS) {
    const hash = recipeHash(s.recipe);
    const saved = path.join(CACHE_DIR, `standin-${s.recipe}-${hash}.tar`);
    const present = await engine.docker(['image', 'inspect', '--format', '{{index .Config.Labels "org.berth.standin"}}', s.tag]).then(
      (l) => l.trim(),
      () => '',
    );
    if (present === hash) continue; // an engine that keeps its data has it already
    if (fs.existsSync(saved)) {
      await engine.docker(['load', '-i', saved], { timeoutMs: 900_000 });
      continue;
    }
    log(`building the ${s.tag} stand-in`);
    const ctx = fs.mkdtempSync(path.join(CACHE_DIR, 'ctx-'));
    try {
      fs.cpSync(path.join(RECIPES, s.recipe), ctx, { recursive: true });
      if (s.recipe === 'node') {
        if (!process.version.startsWith('v20.')) throw new Error(`the node stand-in is this machine's Node, which must be 20 (is ${process.version})`);
        const prefix = path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..');
        fs.copyFileSync(process.execPath, path.join(ctx, 'node'));
        fs.cpSync(path.join(prefix, 'include/node'), path.join(ctx, 'include'), { recursive: true, dereference: true });
        fs.cpSync(path.join(prefix, 'lib/node_modules/npm'), path.join(ctx, 'npm'), { recursive: true });
        if (fs.existsSync(caBundle())) fs.copyFileSync(caBundle(), path.join(ctx, 'ca-certificates.crt'));
        else fs.writeFileSync(path.join(ctx, 'ca-certificates.crt'), '');
      }
      await engine.docker(['build', '--network', 'host', '--label', `org.berth.standin=${hash}`, '-t', s.tag, ctx], { timeoutMs: 1_800_000 });
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
    }
    for (const f of fs.readdirSync(CACHE_DIR)) if (f.startsWith(`standin-${s.recipe}-`)) fs.rmSync(path.join(CACHE_DIR, f));
    // Saved with the base's layer, so a load needs nothing else.
    await engine.docker(['save', '-o', `${saved}.tmp`, s.tag], { timeoutMs: 900_000 });
    fs.renameSync(`${saved}.tmp`, saved);
    built++;
  }
  return { built };
}
