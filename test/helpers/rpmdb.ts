import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface RpmSpec {
  name: string;
  epoch?: number;
  version: string;
  release: string;
}

const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/**
 * Builds empty noarch packages with Debian's `rpmbuild` and records them in a fresh rpm database with
 * `rpm --justdb` (rpm's default backend here: SQLite). Returns the `rpmdb.sqlite` bytes.
 */
export function buildRpmDb(specs: RpmSpec[]): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rpmbuild-'));
  try {
    for (const s of specs) {
      const spec = path.join(dir, `${s.name}.spec`);
      fs.writeFileSync(
        spec,
        [
          `Name: ${s.name}`,
          ...(s.epoch !== undefined ? [`Epoch: ${s.epoch}`] : []),
          `Version: ${s.version}`,
          `Release: ${s.release}`,
          'Summary: test',
          'License: MIT',
          'BuildArch: noarch',
          '%description',
          'test',
          '%files',
          '',
        ].join('\n'),
      );
      run('rpmbuild', ['--quiet', '--define', `_topdir ${path.join(dir, 'top')}`, '-bb', spec]);
    }
    const db = path.join(dir, 'db');
    fs.mkdirSync(db);
    run('rpm', ['--dbpath', db, '--initdb']);
    const rpms = fs.readdirSync(path.join(dir, 'top', 'RPMS', 'noarch')).map((f) => path.join(dir, 'top', 'RPMS', 'noarch', f));
    run('rpm', ['--dbpath', db, '--justdb', '--nodeps', '--noscripts', '--ignorearch', '--ignoreos', '-i', ...rpms]);
    // rpm leaves a WAL: fold it into the main file so the copy is complete
    run('rpm', ['--dbpath', db, '-qa']);
    return fs.readFileSync(path.join(db, 'rpmdb.sqlite'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
