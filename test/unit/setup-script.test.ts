import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const SCRIPT = path.resolve('scripts/setup.mjs');

/**
 * `npm run setup` in a scratch checkout, with `npm`, `apt-get` and `dpkg-query` replaced by stand-ins that log their
 * arguments: `installed` is what the stand-in dpkg reports as installed (every package when null).
 */
function runSetup(dir: string, installed: string[] | null, env: Record<string, string> = {}) {
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'calls.log');
  fs.rmSync(log, { force: true });
  fs.mkdirSync(bin, { recursive: true });
  for (const name of ['npm', 'apt-get']) fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\n`, { mode: 0o755 });
  const known = installed === null ? '' : installed.join(' ');
  // dpkg-query -W -f=FORMAT PKG...: one "name status" line per package it knows.
  fs.writeFileSync(
    path.join(bin, 'dpkg-query'),
    `#!/bin/sh\nshift; shift\nfor p in "$@"; do\n  case " ${known} " in *" $p "*) echo "$p installed";; *) ${installed === null ? 'echo "$p installed"' : 'echo "$p not-installed"'};; esac\ndone\n`,
    { mode: 0o755 },
  );
  const r = spawnSync(process.execPath, [SCRIPT], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env } });
  const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
  return { status: r.status, out: r.stdout + r.stderr, calls };
}

const lock = (versions: Record<string, string>, optional: string[] = []) => ({
  name: 'x',
  lockfileVersion: 3,
  packages: {
    '': { name: 'x' },
    ...Object.fromEntries(Object.entries(versions).map(([k, v]) => [`node_modules/${k}`, { version: v, ...(optional.includes(k) ? { optional: true } : {}) }])),
  },
});

describe('npm run setup', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-setup-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (want: object, have: object | null) => {
    fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(want));
    fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true });
    if (have) {
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.writeFileSync(path.join(dir, 'node_modules', '.package-lock.json'), JSON.stringify(have));
    }
  };

  it('touches neither apt nor node_modules when everything is in place', () => {
    write(lock({ a: '1.0.0', b: '2.0.0', c: '3.0.0' }, ['c']), lock({ a: '1.0.0', b: '2.0.0' }));
    const r = runSetup(dir, null);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(r.calls, []);
    assert.match(r.out, /OS packages already installed/);
    assert.match(r.out, /node_modules already matches package-lock\.json/);
  });

  it('runs npm ci when node_modules is missing or differs from the lockfile', () => {
    for (const have of [null, lock({ a: '1.0.0' }), lock({ a: '1.0.1', b: '2.0.0' })]) {
      write(lock({ a: '1.0.0', b: '2.0.0' }), have);
      const r = runSetup(dir, null);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(r.calls, ['npm ci'], JSON.stringify(have));
    }
  });

  it('names only the missing OS packages', () => {
    write(lock({ a: '1.0.0' }), lock({ a: '1.0.0' }));
    const r = runSetup(dir, ['docker-registry', 'umoci'], { BERTH_SKIP_APT: '1' });
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(r.calls, []);
    const needs = /Berth needs: (.*)/.exec(r.out)?.[1]?.split(', ') ?? [];
    assert.ok(needs.includes('skopeo') && needs.includes('chromium'), r.out);
    assert.ok(!needs.includes('docker-registry') && !needs.includes('umoci'), r.out);
  });
});
