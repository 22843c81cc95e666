import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { busyboxRootfs, dockerFails, dockerSuiteSkip, importImage, startDocker, type DockerEngine } from '../helpers/docker.js';
import { eventually, startInstance, type Instance } from '../helpers/registry.js';
import { DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

// In CI a missing engine is a failure, never a pass; elsewhere the suite says why it did not run.
const skip = dockerSuiteSkip();

// The real docker CLI against Berth: one dialect is enough here (the database paths are the other suites' job).
for (const dialect of testDialects().slice(0, 1)) {
  describe(`the docker CLI through Berth [${dialect}]`, { skip }, () => {
    let b: Instance;
    let engine: DockerEngine;
    const roots: string[] = [];
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(p, { auth: ADMIN, ...init });
    /** An image from busybox plus files (a unique one, so every push uploads). */
    const image = async (tag: string, files: Record<string, string> = {}) => {
      const rootfs = busyboxRootfs();
      roots.push(rootfs);
      for (const [rel, content] of Object.entries({ ...files, 'etc/berth-nonce': randomBytes(8).toString('hex') })) {
        fs.mkdirSync(path.dirname(path.join(rootfs, rel)), { recursive: true });
        fs.writeFileSync(path.join(rootfs, rel), content);
      }
      await importImage(engine, rootfs, tag, ['CMD ["sh"]']);
    };
    const vulnerableFiles = () => Object.fromEntries(Object.entries(DEBIAN_LAYERS[0]!).filter(([, v]) => typeof v === 'string')) as Record<string, string>;

    before(async () => {
      engine = await startDocker();
      b = await startInstance(dialect);
      for (const name of ['dock', 'gated']) assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
      await api('/api/v1/vulndb/import', { method: 'POST', json: DEBIAN_RECORDS });
    });
    after(async () => {
      await engine?.stop();
      await b?.destroy();
      for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    });

    it('logs in, pushes, and pulls by tag and by digest', async () => {
      assert.match(await engine.docker(['login', b.host, '-u', ADMIN[0], '--password-stdin'], { input: ADMIN[1] }), /Login Succeeded/);
      await image(`${b.host}/dock/app:1`);
      const pushed = await engine.docker(['push', `${b.host}/dock/app:1`]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
      assert.ok(digest, pushed);
      await eventually(async () => (await api(`/api/v1/projects/dock/repositories/app/artifacts/${digest}`)).status === 200);
      await engine.docker(['rmi', `${b.host}/dock/app:1`]);
      assert.match(await engine.docker(['pull', `${b.host}/dock/app:1`]), new RegExp(`Digest: ${digest}`));
      assert.match(await engine.docker(['pull', `${b.host}/dock/app@${digest}`]), new RegExp(digest!));
      assert.equal((await engine.docker(['run', '--rm', '--network', 'none', `${b.host}/dock/app:1`, 'echo', 'ran'])).trim(), 'ran');
    });

    it('shows the pull gate\'s message after "Error response from daemon: unknown:", not as an authentication failure', async () => {
      await image(`${b.host}/gated/app:v1`, vulnerableFiles());
      await engine.docker(['push', `${b.host}/gated/app:v1`]);
      let last: unknown;
      await eventually(async () => {
        last = await (await api('/api/v1/projects/gated/repositories/app/artifacts/v1/vulnerabilities')).json().catch(() => null);
        return (last as { status?: string } | null)?.status === 'success';
      }, 120_000).catch((err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(last).slice(0, 2000)}`);
      });
      assert.equal((await api('/api/v1/projects/gated', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high', immutable_tags: ['v*'] } })).status, 200);
      await engine.docker(['rmi', `${b.host}/gated/app:v1`]);
      const out = await dockerFails(engine, ['pull', `${b.host}/gated/app:v1`]);
      assert.match(out, /Berth blocked this pull: gated\/app@sha256:[0-9a-f]{12}… has \d+ vulnerabilit(y|ies) at or above high/);
      // What README says docker prints: the daemon's prefix, the code docker does not know as "unknown", the message.
      assert.match(out, /Error response from daemon: unknown: Berth blocked this pull: /);
      assert.equal(out.split('Berth blocked this pull').length, 2, 'said once');
      assert.doesNotMatch(out, /pull access denied|may require 'docker login'/);
    });

    it('a refused push says why: an immutable tag, or no permission after logout', async () => {
      await image(`${b.host}/gated/app:v1`);
      const immutable = await dockerFails(engine, ['push', `${b.host}/gated/app:v1`]);
      assert.match(immutable, /immutable/);
      assert.match(await engine.docker(['logout', b.host]), /Removing login credentials/);
      await image(`${b.host}/dock/app:2`);
      const anonymous = await dockerFails(engine, ['push', `${b.host}/dock/app:2`]);
      assert.match(anonymous, /denied|unauthorized|authentication required/i);
      assert.doesNotMatch(anonymous, /Berth blocked|vulnerab/);
      const pull = await dockerFails(engine, ['pull', `${b.host}/dock/app:1`]);
      assert.match(pull, /denied|unauthorized|authentication required/i);
    });
  });
}
