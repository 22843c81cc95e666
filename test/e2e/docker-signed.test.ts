import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { cosignSign, cosignSignature, cosignTag, ociArtifact, simpleSigningPayload, testKey } from '../helpers/artifacts.js';
import { testDialects } from '../helpers/db.js';
import { busyboxRootfs, dockerUnavailableReason, importImage, startDocker, type DockerEngine } from '../helpers/docker.js';
import { eventually, skopeo, startInstance, type Instance } from '../helpers/registry.js';

// In CI a missing engine is a failure, never a pass; elsewhere the suite says why it did not run.
const unavailable = dockerUnavailableReason();
if (unavailable && process.env.CI === 'true') throw new Error(`CI needs a Docker engine: ${unavailable}`);

async function dockerFails(engine: DockerEngine, args: string[]): Promise<string> {
  try {
    await engine.docker(args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`docker ${args.join(' ')} unexpectedly succeeded`);
}

// The signed-only policy with the real docker CLI: one dialect (the database paths are covered by artifacts.test.ts).
for (const dialect of testDialects().slice(0, 1)) {
  describe(`signed-only projects with the docker CLI [${dialect}]`, { skip: unavailable ?? false }, () => {
    let b: Instance;
    let engine: DockerEngine;
    const roots: string[] = [];
    const key = testKey('ec');
    const other = testKey('ed25519');
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(p, { auth: ADMIN, ...init });
    const image = async (tag: string) => {
      const rootfs = busyboxRootfs();
      roots.push(rootfs);
      fs.writeFileSync(path.join(rootfs, 'etc', 'berth-nonce'), randomBytes(8).toString('hex'));
      await importImage(engine, rootfs, tag, ['CMD ["sh"]']);
      const out = await engine.docker(['push', tag]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
      assert.ok(digest, out);
      await engine.docker(['rmi', tag]);
      return digest!;
    };
    /** What `cosign sign --key` pushes: a simple-signing payload signed with the key, under sha256-<hex>.sig. */
    const sign = async (repo: string, digest: string, privateKey: ReturnType<typeof testKey>['privateKey']) => {
      const payload = simpleSigningPayload(`${b.host}/${repo}`, digest);
      const built = ociArtifact(path.join(b.config.dataDir, `sig-${randomBytes(4).toString('hex')}`), cosignSignature([{ payload, signature: cosignSign(payload, privateKey) }]), 'sig');
      await skopeo('copy', '--retry-times', '0', '--preserve-digests', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', built.ref, `docker://${b.host}/${repo}:${cosignTag(digest)}`);
      await eventually(async () => (await (await api(`/api/v1/projects/signed/repositories/app/artifacts/${cosignTag(digest)}`)).json().catch(() => null))?.type === 'signature');
    };

    before(async () => {
      engine = await startDocker();
      b = await startInstance(dialect);
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'signed' } })).status, 201);
      assert.equal((await api('/api/v1/projects/signed', { method: 'PUT', json: { signature_keys: [{ name: 'release', pem: key.pem }], require_signature: true } })).status, 200);
      assert.match(await engine.docker(['login', b.host, '-u', ADMIN[0], '--password-stdin'], { input: ADMIN[1] }), /Login Succeeded/);
    });
    after(async () => {
      await engine?.stop();
      await b?.destroy();
      for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    });

    it('refuses an unsigned image with a message that says so, and serves it once signed by the project key', async () => {
      const ref = `${b.host}/signed/app:1`;
      const digest = await image(ref);
      const err = await dockerFails(engine, ['pull', ref]);
      assert.match(err, /is not signed/);
      assert.match(err, /serves only artifacts signed by one of its keys/);
      await sign('signed/app', digest, key.privateKey);
      await eventually(async () => (await engine.docker(['pull', ref]).catch(() => '')).includes(digest));
      assert.equal((await engine.docker(['run', '--rm', '--network', 'none', ref, 'echo', 'signed and served'])).trim(), 'signed and served');
    });

    it('refuses an image signed with a key the project does not hold', async () => {
      const ref = `${b.host}/signed/app:2`;
      const digest = await image(ref);
      await sign('signed/app', digest, other.privateKey);
      const err = await dockerFails(engine, ['pull', ref]);
      assert.match(err, /has 1 signature, but none is valid for the project's keys \(release\)/);
    });
  });
}
