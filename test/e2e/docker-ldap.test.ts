import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Attribute, Change } from 'ldapts';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { busyboxRootfs, dockerUnavailableReason, importImage, startDocker, type DockerEngine } from '../helpers/docker.js';
import { startInstance, type Instance } from '../helpers/registry.js';
import { LDAP_BASE, LDAP_READER_DN, LDAP_READER_PW, LDAP_USERS, startSlapd, TEAM_A, type Slapd } from '../helpers/slapd.js';

// In CI a missing engine is a failure, never a pass; elsewhere the suite says why it did not run.
const unavailable = dockerUnavailableReason();
if (unavailable && process.env.CI === 'true') throw new Error(`CI needs a Docker engine: ${unavailable}`);

async function dockerFails(engine: DockerEngine, args: string[], input?: string): Promise<string> {
  try {
    await engine.docker(args, input === undefined ? undefined : { input });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`docker ${args.join(' ')} unexpectedly succeeded`);
}

// `docker login` with LDAP credentials, the issue's own words: the real docker CLI, one dialect (the database paths
// are covered by the LDAP suites on both).
for (const dialect of testDialects().slice(0, 1)) {
  describe(`docker login with LDAP credentials [${dialect}]`, { skip: unavailable ?? false }, () => {
    let slapd: Slapd;
    let b: Instance;
    let engine: DockerEngine;
    let rootfs = '';
    before(async () => {
      slapd = await startSlapd();
      engine = await startDocker();
      b = await startInstance(dialect, {
        BERTH_AUTH_MODE: 'ldap',
        BERTH_LDAP_URL: slapd.url,
        BERTH_LDAP_BIND_DN: LDAP_READER_DN,
        BERTH_LDAP_BIND_PASSWORD: LDAP_READER_PW,
        BERTH_LDAP_BASE_DN: LDAP_BASE,
        BERTH_LDAP_GROUP_BASE_DN: `ou=groups,${LDAP_BASE}`,
      });
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'lab' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects/lab/members', { method: 'POST', auth: ADMIN, json: { group: TEAM_A, role: 'developer' } })).status, 201);
      rootfs = busyboxRootfs();
    });
    after(async () => {
      await engine?.stop();
      await b?.destroy();
      await slapd?.destroy();
      if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
    });

    it('logs in and pushes as an LDAP-only user; a wrong password fails login; leaving the group stops pushes', async () => {
      assert.match(await dockerFails(engine, ['login', b.host, '-u', 'ldapalice', '--password-stdin'], 'wrong-password'), /unauthorized|401|incorrect username or password/i);
      assert.match(await engine.docker(['login', b.host, '-u', 'ldapalice', '--password-stdin'], { input: LDAP_USERS.ldapalice! }), /Login Succeeded/);
      await importImage(engine, rootfs, `${b.host}/lab/tool:1`, ['CMD ["sh"]']);
      assert.match(await engine.docker(['push', `${b.host}/lab/tool:1`]), /digest: sha256:/);
      const root = await slapd.admin();
      await root.modify(TEAM_A, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [`uid=ldapalice,ou=people,${LDAP_BASE}`] }) }));
      await root.unbind();
      await importImage(engine, rootfs, `${b.host}/lab/tool:2`, ['CMD ["sh"]', 'ENV V=2']);
      assert.match(await dockerFails(engine, ['push', `${b.host}/lab/tool:2`]), /denied|unauthorized|authentication required/i);
    });
  });
}
