import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { buildImage, eventually, fails, inspectDigest, push, run, startInstance, type Instance } from '../helpers/registry.js';

for (const dialect of testDialects()) {
  describe(`podman login, pull, push, search [${dialect}]`, () => {
    let b: Instance;
    let dir: string;
    let podman: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
    let base: string[];

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pod' } });
      await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'poddev', password: 'poddev-pw-123' } });
      await b.api('/api/v1/projects/pod/members', { method: 'POST', auth: ADMIN, json: { username: 'poddev', role: 'developer' } });
      await push(await buildImage({ 'etc/pod': '1' }), `docker://${b.host}/pod/base:1`, ADMIN);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-podman-'));
      // Its own storage (vfs, as root) and auth file, so nothing leaks between runs.
      base = ['--storage-driver', 'vfs', '--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run')];
      podman = (...args) => run('podman', [...base, ...args], { env: { REGISTRY_AUTH_FILE: path.join(dir, 'auth.json') } });
    });
    after(async () => {
      await b?.destroy();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('podman login answers to good and bad credentials', async () => {
      await fails('podman', [...base, 'login', '--authfile', path.join(dir, 'bad.json'), '--tls-verify=false', '-u', 'poddev', '-p', 'wrong', b.host]);
      const { stdout } = await podman('login', '--tls-verify=false', '-u', 'poddev', '-p', 'poddev-pw-123', b.host);
      assert.match(stdout, /Login Succeeded/);
    });

    it('pulls, re-tags, pushes and lists tags', async () => {
      await podman('pull', '--tls-verify=false', `${b.host}/pod/base:1`);
      await podman('tag', `${b.host}/pod/base:1`, `${b.host}/pod/copy:2`);
      await podman('push', '--tls-verify=false', `${b.host}/pod/copy:2`);
      // podman may convert the manifest format on push, so the digest is its own; it must resolve and be recorded.
      const digest = await inspectDigest(`docker://${b.host}/pod/copy:2`, ADMIN);
      assert.match(digest, /^sha256:[a-f0-9]{64}$/);
      const { stdout } = await podman('search', '--tls-verify=false', '--list-tags', `${b.host}/pod/copy`);
      assert.match(stdout, /copy\s+2/);
      const art = await eventually(async () => {
        const res = await b.api('/api/v1/projects/pod/repositories/copy/artifacts/2', { auth: ADMIN });
        return res.status === 200 ? res.json() : null;
      });
      assert.equal(art.digest, digest);
      assert.equal(art.pushed_by, 'poddev');
    });
  });
}
