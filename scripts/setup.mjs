#!/usr/bin/env node
// `npm run setup`: the Debian packages Berth and its tests use (when apt is there and we are root), then `npm ci`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

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

const haveApt = fs.existsSync('/usr/bin/apt-get');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (haveApt && isRoot && process.env.BERTH_SKIP_APT !== '1') {
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...PACKAGES], { DEBIAN_FRONTEND: 'noninteractive' });
} else {
  console.log(`setup: not installing OS packages (${haveApt ? 'not root' : 'no apt-get'}); Berth needs: ${PACKAGES.join(', ')}`);
}
run('npm', ['ci']);
console.log('setup: done. Start Berth with `npm start`.');
