import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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

/**
 * The real docker CLI through Berth's /v2 gate: each rule the other suites try with skopeo, podman and plain HTTP
 * (test/e2e/ways-in.test.ts), met as a docker user meets it, with the exact text the CLI prints for each refusal. A
 * policy refusal must say what the policy is; only a missing permission may read as docker's "pull access denied".
 * One engine and one Berth for all of it; one dialect is enough here (the database paths are the other suites' job).
 */
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
    const login = async (creds: [string, string]) => assert.match(await engine.docker(['login', b.host, '-u', creds[0], '--password-stdin'], { input: creds[1] }), /Login Succeeded/);
    /** `docker push`; the digest it printed. */
    const push = async (ref: string) => {
      const out = await engine.docker(['push', ref]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
      assert.ok(digest, out);
      return digest!;
    };
    /** What the docker CLI printed on stderr for a command that must fail (without dockerFails' "docker <args>: "). */
    const refused = async (args: string[]) => {
      const out = await dockerFails(engine, args);
      const prefix = `docker ${args.join(' ')}: `;
      assert.ok(out.startsWith(prefix), out);
      return out.slice(prefix.length).trim();
    };
    /** Keeps trying a command until docker refuses it (a permission change is live within 500 ms); its refusal. */
    const refusedWithin = (args: string[], ms = 5000) => eventually(() => refused(args), ms);
    const user = async (name: string): Promise<[string, string]> => {
      const creds: [string, string] = [name, `${name}-Passw0rd!`];
      assert.equal((await api('/api/v1/users', { method: 'POST', json: { username: name, password: creds[1] } })).status, 201);
      return creds;
    };
    const memberId = async (project: string, username: string) => {
      const list = await (await api(`/api/v1/projects/${project}/members`)).json();
      return (list.items ?? list).find((m: { username?: string }) => m.username === username).user_id as number;
    };
    let gatedDigest = '';
    const artifactStatus = async (project: string, ref: string) => (await api(`/api/v1/projects/${project}/repositories/app/artifacts/${ref}`)).status;

    before(async () => {
      engine = await startDocker();
      b = await startInstance(dialect);
      for (const name of ['dock', 'gated', 'team', 'robots', 'quota', 'ro']) assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
      for (const name of ['team', 'robots', 'quota', 'ro']) assert.equal((await api(`/api/v1/projects/${name}`, { method: 'PUT', json: { auto_scan: false } })).status, 200);
      await api('/api/v1/vulndb/import', { method: 'POST', json: DEBIAN_RECORDS });
    });
    after(async () => {
      await engine?.stop();
      await b?.destroy();
      for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    });

    it('logs in, pushes, and pulls by tag and by digest', async () => {
      await login(ADMIN);
      await image(`${b.host}/dock/app:1`);
      const digest = await push(`${b.host}/dock/app:1`);
      await eventually(async () => (await artifactStatus('dock', digest)) === 200);
      await engine.docker(['rmi', `${b.host}/dock/app:1`]);
      assert.match(await engine.docker(['pull', `${b.host}/dock/app:1`]), new RegExp(`Digest: ${digest}`));
      assert.match(await engine.docker(['pull', `${b.host}/dock/app@${digest}`]), new RegExp(digest));
      assert.equal((await engine.docker(['run', '--rm', '--network', 'none', `${b.host}/dock/app:1`, 'echo', 'ran'])).trim(), 'ran');
    });

    it('a vulnerable image: the pull gate\'s text after "Error response from daemon: unknown:", by tag and by digest, never as an authentication failure', async () => {
      await image(`${b.host}/gated/app:v1`, vulnerableFiles());
      const digest = await push(`${b.host}/gated/app:v1`);
      gatedDigest = digest;
      let last: { status?: string; items?: { id: string; aliases?: string[]; upstream?: string[]; severity: string }[] } | null = null;
      await eventually(async () => {
        last = await (await api('/api/v1/projects/gated/repositories/app/artifacts/v1/vulnerabilities')).json().catch(() => null);
        return last?.status === 'success';
      }, 120_000).catch((err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(last).slice(0, 2000)}`);
      });
      assert.equal((await api('/api/v1/projects/gated', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high', immutable_tags: ['v*'] } })).status, 200);
      await engine.docker(['rmi', `${b.host}/gated/app:v1`]);
      const blocking = last!.items!.filter((f) => ['high', 'critical'].includes(f.severity.toLowerCase()));
      assert.ok(blocking.length > 0, JSON.stringify(last));
      const ids = blocking.map((f) => [...(f.aliases ?? []), ...(f.upstream ?? [])].find((a) => a.startsWith('CVE-')) ?? f.id);
      const want =
        `Error response from daemon: unknown: Berth blocked this pull: gated/app@${digest.slice(0, 19)}… has ${blocking.length} vulnerabilit${blocking.length === 1 ? 'y' : 'ies'} at or above high ` +
        `(${ids.join(', ')}), and project gated prevents vulnerable images. To pull it anyway, ask a project admin to add the CVEs to the project's CVE allowlist.`;
      // What README says docker prints: the daemon's prefix, the code docker does not know as "unknown", the message, once.
      assert.equal(await refused(['pull', `${b.host}/gated/app:v1`]), want);
      assert.equal(await refused(['pull', `${b.host}/gated/app@${digest}`]), want);
    });

    it('an immutable tag: a push over it says so, and the tag keeps what it held', async () => {
      await image(`${b.host}/gated/app:v1`);
      assert.equal(await refused(['push', `${b.host}/gated/app:v1`]), 'unknown: tag gated/app:v1 is immutable in project gated (rule "v*"): push under a new tag instead');
      assert.equal((await (await api('/api/v1/projects/gated/repositories/app/artifacts/v1')).json()).digest, gatedDigest);
    });

    it('a member removed after docker login can pull and push no more within seconds; one demoted to guest keeps pulling only', async () => {
      const creds = await user('leaver');
      assert.equal((await api('/api/v1/projects/team/members', { method: 'POST', json: { username: creds[0], role: 'developer' } })).status, 201);
      const id = await memberId('team', creds[0]);
      await login(creds);
      await image(`${b.host}/team/app:1`);
      await push(`${b.host}/team/app:1`);
      await engine.docker(['rmi', `${b.host}/team/app:1`]);

      assert.equal((await api(`/api/v1/projects/team/members/${id}`, { method: 'PUT', json: { role: 'guest' } })).status, 204);
      await image(`${b.host}/team/app:2`);
      assert.equal(await refusedWithin(['push', `${b.host}/team/app:2`]), 'denied: requested access to the resource is denied');
      assert.match(await engine.docker(['pull', `${b.host}/team/app:1`]), /Status: Downloaded newer image/);
      await engine.docker(['rmi', `${b.host}/team/app:1`]);

      assert.equal((await api(`/api/v1/projects/team/members/${id}`, { method: 'DELETE' })).status, 204);
      // Not a member any more: docker's own words for a missing permission are the right ones here.
      assert.equal(
        await refusedWithin(['pull', `${b.host}/team/app:1`]),
        `Error response from daemon: pull access denied for ${b.host}/team/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
      );
      assert.equal(await refused(['push', `${b.host}/team/app:2`]), 'denied: requested access to the resource is denied');
      assert.equal(await artifactStatus('team', '2'), 404);
    });

    it('a disabled robot: its pull is refused within seconds and so is docker login; re-enabled it works again; deleted, refused again', async () => {
      await login(ADMIN);
      await image(`${b.host}/robots/app:1`);
      await push(`${b.host}/robots/app:1`);
      await engine.docker(['rmi', `${b.host}/robots/app:1`]);
      const res = await api('/api/v1/robots', { method: 'POST', json: { name: 'ci', project: 'robots', permissions: [{ project: 'robots', actions: ['pull', 'push'] }] } });
      assert.equal(res.status, 201);
      const robot = (await res.json()) as { id: number; name: string; secret: string };
      const creds: [string, string] = [robot.name, robot.secret];
      await login(creds);
      const pull = ['pull', `${b.host}/robots/app:1`];
      await engine.docker(pull);
      await engine.docker(['rmi', `${b.host}/robots/app:1`]);

      assert.equal((await api(`/api/v1/robots/${robot.id}`, { method: 'PUT', json: { disabled: true } })).status, 200);
      const badCredentials = 'unauthorized: invalid username or password';
      assert.equal(await refusedWithin(pull), `Error response from daemon: Head "http://${b.host}/v2/robots/app/manifests/1": ${badCredentials}`);
      const loginArgs = ['login', b.host, '-u', robot.name, '--password-stdin'];
      const loginRefused = async () => {
        const err = await engine.docker(loginArgs, { input: robot.secret }).then(
          () => null,
          (e: Error) => e.message,
        );
        assert.ok(err, 'docker login unexpectedly succeeded');
        return err.slice(`docker ${loginArgs.join(' ')}: `.length).trim();
      };
      assert.equal(await loginRefused(), `Error response from daemon: Get "http://${b.host}/v2/": ${badCredentials}`);

      assert.equal((await api(`/api/v1/robots/${robot.id}`, { method: 'PUT', json: { disabled: false } })).status, 200);
      await eventually(async () => {
        await login(creds);
        return true;
      }, 5000);
      await engine.docker(pull);

      assert.equal((await api(`/api/v1/robots/${robot.id}`, { method: 'DELETE' })).status, 204);
      await engine.docker(['rmi', `${b.host}/robots/app:1`]);
      assert.equal(await refusedWithin(pull), `Error response from daemon: Head "http://${b.host}/v2/robots/app/manifests/1": ${badCredentials}`);
      assert.equal(await loginRefused(), `Error response from daemon: Get "http://${b.host}/v2/": ${badCredentials}`);
    });

    it('a push over the project quota is refused with the quota in figures, and nothing is stored', async () => {
      await login(ADMIN);
      assert.equal((await api('/api/v1/projects/quota', { method: 'PUT', json: { quota_bytes: 100 * 1024 } })).status, 200);
      await image(`${b.host}/quota/app:1`);
      const text = await refused(['push', `${b.host}/quota/app:1`]);
      // busybox is about 1 MiB gzipped; the figures are Berth's own rounding
      assert.match(
        text,
        /^unknown: storage quota of project quota exceeded: 0 KiB used \+ 1\.\d MiB in this push > 100 KiB quota\. Delete images \(and run garbage collection\) or ask for a larger quota\.$/,
      );
      assert.equal(await artifactStatus('quota', '1'), 404);
    });

    describe('while garbage collection holds the registry read-only', () => {
      const READ_ONLY = 'Berth is read-only while garbage collection runs: retry in a few minutes';
      let first: string;
      before(async () => {
        await login(ADMIN);
        await image(`${b.host}/ro/app:1`);
        first = await push(`${b.host}/ro/app:1`);
        await b.services.policy.setReadOnly({ reason: 'garbage collection', until: Date.now() + 120_000, jobId: null });
      });
      after(async () => b.services.policy.setReadOnly(null));

      it('a push whose layers are there already (a new tag) is refused at once, with the reason on the status line docker prints for a 5xx', async () => {
        await engine.docker(['tag', `${b.host}/ro/app:1`, `${b.host}/ro/app:2`]);
        // The engine reads no error body of a 5xx answer; the reason phrase is all it shows.
        assert.equal(await refusedWithin(['push', `${b.host}/ro/app:2`]), `received unexpected HTTP status: 503 Service Unavailable: ${READ_ONLY}`);
        assert.equal(await artifactStatus('ro', '2'), 404);
      });

      it('pulls go on', async () => {
        await engine.docker(['rmi', `${b.host}/ro/app:1`, `${b.host}/ro/app:2`]);
        assert.match(await engine.docker(['pull', `${b.host}/ro/app@${first}`]), new RegExp(first));
      });

      it('a push of new layers retries (docker backs off on a 503) and lands once read-only lifts', async () => {
        await image(`${b.host}/ro/app:3`);
        const child = spawn('docker', ['push', `${b.host}/ro/app:3`], { env: engine.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
        try {
          // the engine's first upload was refused: it says it will try again
          await eventually(async () => /Retrying in \d+ seconds?/.test(out), 30_000);
        } finally {
          await b.services.policy.setReadOnly(null);
        }
        assert.equal(await exited, 0, `${out}\n${err}`);
        const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
        assert.ok(digest, out);
        await eventually(async () => (await artifactStatus('ro', digest!)) === 200);
      });
    });

    it('after logout a push or pull of a private project is refused as docker refuses a missing login, never as a policy', async () => {
      assert.match(await engine.docker(['logout', b.host]), /Removing login credentials/);
      await image(`${b.host}/dock/app:2`);
      assert.equal(await refused(['push', `${b.host}/dock/app:2`]), 'denied: requested access to the resource is denied');
      assert.equal(
        await refused(['pull', `${b.host}/dock/app:1`]),
        `Error response from daemon: pull access denied for ${b.host}/dock/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
      );
    });
  });
}
