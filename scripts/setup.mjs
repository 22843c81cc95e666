#!/usr/bin/env node
// `npm run setup`: the Debian packages Berth and its tests use (only those missing, when apt is there and we are
// root), then `npm ci` unless node_modules already holds exactly what package-lock.json pins.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// mariadb-server: `npm test` runs every DB case on MariaDB too (scripts/test.mjs starts a throw-away server when none runs).
// squashfs-tools: unsquashfs reads the system partition of Apptainer/Singularity SIF files (scanner/sif-reader.ts);
// mksquashfs builds the SIF files of the tests.
// zstd: decodes zstd layers for the scanner (scanner/zstd.ts; without it, the slower built-in decoder) and makes them in tests.
// wrk: the load generator of `npm run bench` (token issuing, gated manifest GETs).
// fonts-wqy-microhei: a CJK font, so the browser tests' screenshots of the Chinese UI show characters, not boxes.
const PACKAGES = [
  'docker-registry',
  'skopeo',
  'umoci',
  'podman',
  'chromium',
  'docker-compose',
  'slapd',
  'ldap-utils',
  'mariadb-server',
  'docker.io',
  'busybox-static',
  'debootstrap',
  'zstd',
  'rpm',
  'squashfs-tools',
  'wrk',
  'fonts-wqy-microhei',
];
const run = (cmd, args, env = {}) => {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`setup: ${cmd} exited with ${r.status}`);
    process.exit(r.status ?? 1);
  }
};

/** The packages of `names` dpkg does not list as installed (all of them when dpkg-query is missing). */
const missingPackages = (names) => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax, not a template
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], { encoding: 'utf8' });
  if (r.error) return names;
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name.replace(/:.*$/, '')),
  );
  return names.filter((n) => !installed.has(n));
};

/**
 * Whether node_modules holds every package package-lock.json pins, at the pinned version (npm's own record of what
 * it installed, node_modules/.package-lock.json, against the lockfile; optional packages may be absent). Then
 * `npm ci` would only delete and rewrite the same files.
 */
const nodeModulesCurrent = (dir) => {
  try {
    const want = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages ?? {};
    const have = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', '.package-lock.json'), 'utf8')).packages ?? {};
    return Object.entries(want).every(([key, pkg]) => key === '' || (have[key] ? have[key].version === pkg.version : pkg.optional === true));
  } catch {
    return false;
  }
};

const haveApt = fs.existsSync('/usr/bin/apt-get');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const missing = missingPackages(PACKAGES);
if (missing.length === 0) {
  console.log('setup: OS packages already installed');
} else if (haveApt && isRoot && process.env.BERTH_SKIP_APT !== '1') {
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { DEBIAN_FRONTEND: 'noninteractive' });
} else {
  console.log(`setup: not installing OS packages (${haveApt ? (isRoot ? 'BERTH_SKIP_APT=1' : 'not root') : 'no apt-get'}); Berth needs: ${missing.join(', ')}`);
}
if (nodeModulesCurrent(process.cwd())) console.log('setup: node_modules already matches package-lock.json, not running `npm ci`');
else run('npm', ['ci']);
console.log('setup: done. Start Berth with `npm start`.');
