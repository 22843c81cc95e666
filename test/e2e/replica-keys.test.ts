import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/registry/managed.js';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { buildImage, eventually, inspectDigest, push, run, startInstance, type Instance } from '../helpers/registry.js';

// Replicas without a shared data dir: the token key, its certificate and the notification secret come from files
// (BERTH_TOKEN_KEY_FILE, BERTH_TOKEN_CERT_FILE, BERTH_NOTIFICATION_SECRET_FILE) that `berth secrets` wrote.
for (const dialect of testDialects()) {
  describe(`replicas signing with key files [${dialect}]`, () => {
    const secrets = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-secrets-'));
    const files = {
      BERTH_TOKEN_KEY_FILE: path.join(secrets, 'token.key'),
      BERTH_TOKEN_CERT_FILE: path.join(secrets, 'token.crt'),
      BERTH_NOTIFICATION_SECRET_FILE: path.join(secrets, 'notification.secret'),
      BERTH_SETTINGS_KEY_FILE: path.join(secrets, 'settings.key'),
    };
    let a: Instance;
    let b: Instance;
    let c: Instance;
    const others: string[] = [];
    // Another core on the same database with its own data dir (what a replica without a shared volume is).
    const replica = async (of: Instance, env: Record<string, string>) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-replica-'));
      others.push(dataDir);
      return startInstance(dialect, env, { database: { ...of.database, dataDir, drop: async () => {} }, port: await freePort() });
    };
    before(async () => {
      fs.rmSync(secrets, { recursive: true });
      assert.match((await run('node', ['bin/berth.mjs', 'secrets', '--out', secrets])).stdout, /wrote token\.key, token\.crt, notification\.secret, settings\.key/);
      a = await startInstance(dialect, files);
      b = await replica(a, files);
      c = await replica(a, {}); // the control: generates its own key
    });
    after(async () => {
      await c?.stop();
      await b?.stop();
      await a?.destroy();
      for (const d of [secrets, ...others]) fs.rmSync(d, { recursive: true, force: true });
    });

    const tokenFrom = async (inst: Instance, scope: string) => {
      const res = await inst.api(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, { auth: ADMIN });
      assert.equal(res.status, 200);
      return ((await res.json()) as { token: string }).token;
    };

    it('writes no key or secret into the data dirs of cores that read files, and refuses to overwrite them', async () => {
      for (const inst of [a, b]) {
        for (const f of ['token.key', 'token.crt', 'notification.secret', 'settings.key']) assert.equal(fs.existsSync(path.join(inst.config.dataDir, 'keys', f)), false, f);
      }
      assert.ok(fs.existsSync(path.join(c.config.dataDir, 'keys/token.key')));
      await assert.rejects(run('node', ['bin/berth.mjs', 'secrets', '--out', secrets]), /already holds token\.key, token\.crt, notification\.secret, settings\.key/);
    });

    it('a token issued by one replica is honoured through the other, not by a core with its own key', async () => {
      const token = await tokenFrom(a, 'registry:catalog:*');
      const through = (inst: Instance) => fetch(`${inst.url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal((await through(a)).status, 200);
      assert.equal((await through(b)).status, 200);
      assert.equal((await through(c)).status, 401);
      const fromB = await tokenFrom(b, 'registry:catalog:*');
      assert.equal((await fetch(`${a.url}/v2/`, { headers: { authorization: `Bearer ${fromB}` } })).status, 200);
    });

    it("a push through one replica is recorded from its registry's notification (secret from the file), seen through the other", async () => {
      assert.equal((await a.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'shared' } })).status, 201);
      const img = await buildImage({ 'etc/replica': dialect });
      // Each core here runs its own managed registry; the shared storage of a real deployment is the compose test's.
      await push(img, `docker://${b.host}/shared/app:1`, ADMIN);
      const digest = await inspectDigest(`docker://${b.host}/shared/app:1`, ADMIN);
      const seen = await eventually(async () => {
        const res = await a.api('/api/v1/projects/shared/repositories/app/artifacts', { auth: ADMIN });
        const list = res.ok ? ((await res.json()) as { items: { digest: string }[] }).items : [];
        return list.find((x) => x.digest === digest);
      });
      assert.equal(seen.digest, digest);
      const config = fs.readFileSync(path.join(b.config.dataDir, 'registry/config.yml'), 'utf8');
      assert.ok(config.includes(`Bearer ${fs.readFileSync(files.BERTH_NOTIFICATION_SECRET_FILE, 'utf8').trim()}`));
      assert.ok(config.includes(`rootcertbundle: ${JSON.stringify(files.BERTH_TOKEN_CERT_FILE)}`));
    });

    it('token-cert and registry-config give the certificate and secret from the files', async () => {
      const env = { ...files, BERTH_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-')) };
      others.push(env.BERTH_DATA_DIR);
      assert.equal((await run('node', ['bin/berth.mjs', 'token-cert'], { env })).stdout, fs.readFileSync(files.BERTH_TOKEN_CERT_FILE, 'utf8'));
      const yml = (await run('node', ['bin/berth.mjs', 'registry-config'], { env })).stdout;
      assert.ok(yml.includes(`Bearer ${fs.readFileSync(files.BERTH_NOTIFICATION_SECRET_FILE, 'utf8').trim()}`));
      assert.equal(fs.existsSync(path.join(env.BERTH_DATA_DIR, 'keys/token.key')), false);
      assert.equal(fs.existsSync(path.join(env.BERTH_DATA_DIR, 'keys/notification.secret')), false);
    });
  });
}
