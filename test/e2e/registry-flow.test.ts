import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { buildImage, eventually, fails, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { CORE_SUBJECT } from '../../src/registry/constants.js';

const ENVELOPE = 'application/vnd.docker.distribution.events.v1+json';

for (const dialect of testDialects()) {
  describe(`registry flow with skopeo [${dialect}]`, () => {
    let b: Instance;
    const dev: [string, string] = ['dev', 'dev-pw-12345'];
    const guest: [string, string] = ['guest1', 'guest-pw-12345'];
    const outsider: [string, string] = ['outsider', 'outsider-pw-123'];
    let image: string;
    let pushedDigest: string;

    before(async () => {
      b = await startInstance(dialect);
      for (const [u, p] of [dev, guest, outsider]) assert.equal((await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: u, password: p } })).status, 201);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'priv' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pub', public: true } })).status, 201);
      await b.api('/api/v1/projects/priv/members', { method: 'POST', auth: ADMIN, json: { username: 'dev', role: 'developer' } });
      await b.api('/api/v1/projects/priv/members', { method: 'POST', auth: ADMIN, json: { username: 'guest1', role: 'guest' } });
      image = await buildImage({ 'etc/motd': 'hello from berth' }, 'v1');
    });
    after(async () => b?.destroy());

    it('reports healthy once core, database and registry are up', async () => {
      const res = await b.api('/api/v1/health');
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.status, 'ok');
      for (const c of ['database', 'registry', 'jobs', 'vulndb']) assert.equal(body.components[c].status, 'ok', c);
      assert.match(body.components.vulndb.detail, /empty/);
      assert.equal((await b.api('/livez')).status, 200);
      assert.equal((await b.api('/readyz')).status, 200);
    });

    it('a developer pushes to a private project; it shows up in the API within seconds', async () => {
      await push(image, `docker://${b.host}/priv/app:v1`, dev);
      pushedDigest = await inspectDigest(`docker://${b.host}/priv/app:v1`, dev);
      assert.match(pushedDigest, /^sha256:[a-f0-9]{64}$/);
      const art = await eventually(async () => {
        const res = await b.api('/api/v1/projects/priv/repositories/app/artifacts/v1', { auth: dev });
        return res.status === 200 ? res.json() : null;
      });
      assert.equal(art.digest, pushedDigest);
      assert.deepEqual(
        art.tags.map((t: { name: string }) => t.name),
        ['v1'],
      );
      assert.equal(art.type, 'image');
      assert.equal(art.os, 'linux');
      assert.ok(art.size > art.manifest_size);
      assert.equal(art.pushed_by, 'dev');
      assert.equal(art.blobs.length, 2);
      const repos = await (await b.api('/api/v1/projects/priv/repositories', { auth: dev })).json();
      assert.deepEqual(
        repos.items.map((r: { name: string; artifact_count: number }) => [r.name, r.artifact_count]),
        [['priv/app', 1]],
      );
      const byDigest = await b.api(`/api/v1/projects/priv/repositories/app/artifacts/${pushedDigest}`, { auth: dev });
      assert.equal(byDigest.status, 200);
    });

    it('the access log shows the push with its user', async () => {
      const log = await eventually(async () => {
        const l = await (await b.api('/api/v1/audit-logs?action=push', { auth: ADMIN })).json();
        return l.items.length ? l : null;
      });
      assert.equal(log.items[0].username, 'dev');
      assert.equal(log.items[0].resource, 'priv/app:v1');
      assert.equal(log.items[0].client_ip, '127.0.0.1');
    });

    it('a guest cannot push but pulls with the digest unchanged', async () => {
      const err = await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', guest.join(':'), '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/priv/app:guest`]);
      assert.match(err, /denied|unauthorized|authentication required/i);
      assert.equal(await inspectDigest(`docker://${b.host}/priv/app:v1`, guest), pushedDigest);
      const dir = `oci:${b.config.dataDir}/pulled:v1`;
      await skopeo('copy', '--retry-times', '0', '--src-creds', guest.join(':'), '--src-tls-verify=false', `docker://${b.host}/priv/app:v1`, dir);
    });

    it('pull counts and times follow manifest GETs, batched, not HEADs', async () => {
      const art = await eventually(async () => {
        const a = await (await b.api('/api/v1/projects/priv/repositories/app/artifacts/v1', { auth: dev })).json();
        return a.pull_count >= 1 ? a : null;
      });
      assert.ok(art.pulled_at);
      // pull events are applied in batches: the guest's may land after another user's pull was counted
      const pulls = await eventually(async () => {
        const page = await (await b.api('/api/v1/audit-logs?action=pull&limit=100', { auth: ADMIN })).json();
        return page.items.some((e: { username: string }) => e.username === 'guest1') ? page : null;
      });
      assert.ok(!pulls.items.some((e: { username: string }) => e.username === CORE_SUBJECT), 'core’s own reads are not pulls');
    });

    it('anonymous users pull public projects but not private ones; outsiders get nothing', async () => {
      await push(await buildImage({ 'etc/pub': 'x' }), `docker://${b.host}/pub/base:1`, ADMIN);
      assert.match(await inspectDigest(`docker://${b.host}/pub/base:1`, null), /^sha256:/);
      assert.match(await fails('skopeo', ['inspect', '--retry-times', '0', '--no-creds', '--tls-verify=false', `docker://${b.host}/priv/app:v1`]), /unauthorized|authentication required|denied/i);
      assert.match(
        await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', outsider.join(':'), '--tls-verify=false', `docker://${b.host}/priv/app:v1`]),
        /unauthorized|authentication required|denied/i,
      );
      assert.match(
        await fails('skopeo', ['copy', '--retry-times', '0', '--dest-no-creds', '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/pub/base:anon`]),
        /unauthorized|authentication required|denied/i,
      );
    });

    it('a push into a project that does not exist is refused', async () => {
      const err = await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/ghost/app:1`]);
      assert.match(err, /denied|unauthorized|authentication required/i);
    });

    it('bad credentials get 401 from skopeo', async () => {
      assert.match(
        await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', 'dev:wrong-password', '--tls-verify=false', `docker://${b.host}/priv/app:v1`]),
        /401|unauthorized|invalid username\/password/i,
      );
    });

    it('the catalog is for system admins only', async () => {
      const tok = async (auth?: [string, string]) => (await (await b.api('/service/token?service=berth-registry&scope=registry:catalog:*', { auth })).json()).token;
      const asAdmin = await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: `Bearer ${await tok(ADMIN)}` } });
      assert.equal(asAdmin.status, 200);
      assert.deepEqual((await asAdmin.json()).repositories.sort(), ['priv/app', 'pub/base']);
      const asDev = await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: `Bearer ${await tok(dev)}` } });
      assert.equal(asDev.status, 401);
    });

    it('the /v2 proxy keeps registry status, headers and error bodies, and rewrites the realm', async () => {
      const res = await fetch(`${b.url}/v2/`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
      assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${b.url}/service/token",service="berth-registry"`);
      const head = await fetch(`${b.url}/v2/priv/app/manifests/v1`, { method: 'HEAD' });
      assert.equal(head.status, 401);
      assert.match(head.headers.get('www-authenticate') ?? '', /scope="repository:priv\/app:pull"/);
    });

    it('path tricks in /v2 URLs get a clear 4xx and reach nothing', async () => {
      for (const p of [
        '/v2/priv/../pub/base/manifests/1',
        '/v2/priv%2fapp/manifests/v1',
        '/v2/priv/app/manifests/%2e%2e',
        '/v2/priv//app/manifests/v1',
        '/v2/PRIV/app/manifests/v1',
        '/v2/app/manifests/v1',
      ]) {
        const res = await fetch(`${b.url}${p}`);
        assert.ok(res.status >= 400 && res.status < 500, `${p} → ${res.status}`);
        const body = await res.json();
        assert.ok(body.errors[0].code, p);
      }
    });

    it('robot accounts push and pull with skopeo and call the REST API; disable and refresh take effect', async () => {
      const res = await b.api('/api/v1/robots', {
        method: 'POST',
        auth: ADMIN,
        json: { name: 'builder', project: 'priv', permissions: [{ project: 'priv', actions: ['pull', 'push'] }], duration_days: 30 },
      });
      assert.equal(res.status, 201);
      const robot = await res.json();
      assert.equal(robot.name, 'robot$priv+builder');
      assert.ok(robot.expires_at);
      const creds: [string, string] = [robot.name, robot.secret];
      await push(await buildImage({ 'etc/ci': '1' }), `docker://${b.host}/priv/ci:1`, creds);
      assert.match(await inspectDigest(`docker://${b.host}/priv/ci:1`, creds), /^sha256:/);
      assert.equal((await b.api('/api/v1/projects/priv/repositories', { auth: creds })).status, 200);
      // not beyond its grant
      assert.match(
        await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', creds.join(':'), '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/pub/base:robot`]),
        /denied|unauthorized|authentication required/i,
      );
      const listed = await (await b.api('/api/v1/robots?project=priv', { auth: ADMIN })).json();
      assert.ok(!JSON.stringify(listed).includes(robot.secret), 'the secret is shown once');
      const refreshed = await (await b.api(`/api/v1/robots/${robot.id}/refresh`, { method: 'POST', auth: ADMIN })).json();
      assert.notEqual(refreshed.secret, robot.secret);
      assert.equal((await b.api('/api/v1/projects/priv', { auth: creds })).status, 401);
      assert.equal((await b.api('/api/v1/projects/priv', { auth: [robot.name, refreshed.secret] })).status, 200);
      await b.api(`/api/v1/robots/${robot.id}`, { method: 'PUT', auth: ADMIN, json: { disabled: true } });
      assert.match(
        await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', `${robot.name}:${refreshed.secret}`, '--tls-verify=false', `docker://${b.host}/priv/ci:1`]),
        /401|unauthorized|invalid/i,
      );
      // a developer may not mint robots
      assert.equal((await b.api('/api/v1/robots', { method: 'POST', auth: dev, json: { name: 'sneaky', project: 'priv', permissions: [{ project: 'priv', actions: ['delete'] }] } })).status, 403);
    });

    it('the notification endpoint refuses callers without the secret, and acknowledges garbage bodies storing nothing', async () => {
      const count = async () =>
        Number(
          (
            await b.db
              .selectFrom('notification_inbox')
              .select((e) => e.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const before = await count();
      const envelope = JSON.stringify({
        events: [{ id: 'forged-1', action: 'push', target: { repository: 'priv/app', digest: `sha256:${'0'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' } }],
      });
      const post = (body: string, headers: Record<string, string>) => fetch(`${b.url}/service/notifications`, { method: 'POST', body, headers });
      assert.equal((await post(envelope, { 'content-type': ENVELOPE })).status, 401);
      assert.equal((await post(envelope, { 'content-type': ENVELOPE, authorization: 'Bearer wrong' })).status, 401);
      const auth = { authorization: `Bearer ${b.services.notificationSecret}` };
      // Content is never refused (the registry would retry it forever, holding every later event): skipped, logged.
      for (const garbage of ['{"events": [', '{"events": [{"id": 5}]}', '[1,2,3]']) {
        const res = await post(garbage, { 'content-type': ENVELOPE, ...auth });
        assert.equal(res.status, 200, garbage);
        assert.equal((await res.json()).skipped, 1, garbage);
      }
      assert.equal((await post(envelope, { 'content-type': 'text/plain', ...auth })).status, 415);
      assert.equal((await post(JSON.stringify({ events: [], pad: 'x'.repeat(2 * 1024 * 1024) }), { 'content-type': ENVELOPE, ...auth })).status, 200);
      assert.equal(await count(), before);
    });

    it('deleting an artifact through the API deletes the manifest in the registry', async () => {
      await push(await buildImage({ 'etc/tmp': 'delete me' }), `docker://${b.host}/priv/tmp:1`, dev);
      await eventually(async () => (await b.api('/api/v1/projects/priv/repositories/tmp/artifacts/1', { auth: ADMIN })).status === 200);
      assert.equal((await b.api('/api/v1/projects/priv/repositories/tmp/artifacts/1', { method: 'DELETE', auth: dev })).status, 403);
      assert.equal((await b.api('/api/v1/projects/priv/repositories/tmp/artifacts/1', { method: 'DELETE', auth: ADMIN })).status, 204);
      await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/priv/tmp:1`]);
      assert.equal((await b.api('/api/v1/projects/priv/repositories/tmp', { auth: ADMIN })).status, 404);
      const del = await eventually(async () => {
        const l = await (await b.api('/api/v1/audit-logs?action=delete&resource_type=artifact', { auth: ADMIN })).json();
        return l.items.length ? l : null;
      });
      assert.equal(del.items[0].username, 'admin');
    });

    it('deleting a tag keeps the artifact and its other tags; the tag no longer pulls', async () => {
      const img = await buildImage({ 'etc/two': 'tags' });
      await push(img, `docker://${b.host}/priv/multi:a`, dev);
      await push(img, `docker://${b.host}/priv/multi:b`, dev);
      await eventually(async () => {
        const t = await (await b.api('/api/v1/projects/priv/repositories/multi/tags', { auth: ADMIN })).json();
        return t.items?.length === 2;
      });
      assert.equal((await b.api('/api/v1/projects/priv/repositories/multi/tags/a', { method: 'DELETE', auth: ADMIN })).status, 204);
      await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/priv/multi:a`]);
      assert.match(await inspectDigest(`docker://${b.host}/priv/multi:b`, ADMIN), /^sha256:/);
      const tags = await (await b.api('/api/v1/projects/priv/repositories/multi/tags', { auth: ADMIN })).json();
      assert.deepEqual(
        tags.items.map((t: { name: string }) => t.name),
        ['b'],
      );
    });

    it('large blobs pull byte-identical through the direct read path, and only for those allowed', async () => {
      const big = crypto.randomBytes(3 * 1024 * 1024).toString('base64'); // incompressible enough: a >1 MiB layer
      await push(await buildImage({ 'opt/big.bin': big }), `docker://${b.host}/priv/big:1`, dev);
      const dir = `${b.config.dataDir}/big-pulled`;
      await skopeo('copy', '--retry-times', '0', '--src-creds', guest.join(':'), '--src-tls-verify=false', `docker://${b.host}/priv/big:1`, `oci:${dir}:1`);
      const index = JSON.parse(fs.readFileSync(`${dir}/index.json`, 'utf8'));
      const manifest = JSON.parse(fs.readFileSync(`${dir}/blobs/sha256/${index.manifests[0].digest.slice(7)}`, 'utf8'));
      const layer = manifest.layers[0];
      assert.ok(layer.size > 1024 * 1024, `layer is ${layer.size} bytes`);
      const bytes = fs.readFileSync(`${dir}/blobs/sha256/${layer.digest.slice(7)}`);
      assert.equal(`sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`, layer.digest);
      const url = `${b.url}/v2/priv/big/blobs/${layer.digest}`;
      assert.equal((await fetch(url)).status, 401);
      const tok = async (auth: [string, string], scope: string) => (await (await b.api(`/service/token?service=berth-registry&scope=${scope}`, { auth })).json()).token;
      const outsiderTok = await tok(outsider, 'repository:priv/big:pull');
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${outsiderTok}` } })).status, 401);
      // a token for another repository does not read this one's blob
      const otherRepoTok = await tok(guest, 'repository:priv/app:pull');
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${otherRepoTok}` } })).status, 401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${await tok(guest, 'repository:priv/big:pull')}` } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('docker-content-digest'), layer.digest);
      assert.equal(Number(ok.headers.get('content-length')), layer.size);
      assert.ok(Buffer.from(await ok.arrayBuffer()).equals(bytes));
      // the blob is not linked into another repository of the same project: the registry's HEAD says no
      const elsewhere = await fetch(`${b.url}/v2/priv/app/blobs/${layer.digest}`, { headers: { authorization: `Bearer ${otherRepoTok}` } });
      assert.equal(elsewhere.status, 404);
      const ranged = await fetch(url, { headers: { authorization: `Bearer ${await tok(guest, 'repository:priv/big:pull')}`, range: 'bytes=0-9' } });
      assert.equal(ranged.status, 206);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(0, 10)));
    });

    it('forwards a chunked manifest PUT whole (the proxy buffers manifests for policy checks)', async () => {
      const tok = (await (await b.api('/service/token?service=berth-registry&scope=repository:priv/app:pull,push', { auth: dev })).json()).token;
      const accept = 'application/vnd.oci.image.manifest.v1+json';
      const m = await fetch(`${b.url}/v2/priv/app/manifests/v1`, { headers: { authorization: `Bearer ${tok}`, accept } });
      const body = Buffer.from(await m.arrayBuffer());
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(body.subarray(0, 10));
          c.enqueue(body.subarray(10));
          c.close();
        },
      });
      const put = await fetch(`${b.url}/v2/priv/app/manifests/chunked`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${tok}`, 'content-type': m.headers.get('content-type')! },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      assert.equal(put.status, 201, await put.text());
      assert.equal(await inspectDigest(`docker://${b.host}/priv/app:chunked`, dev), pushedDigest);
    });

    it('repository names with a slash are addressed URL-encoded', async () => {
      await push(await buildImage({ 'etc/nested': '1' }), `docker://${b.host}/priv/team/tool:1`, dev);
      const res = await eventually(async () => {
        const r = await b.api('/api/v1/projects/priv/repositories/team%2Ftool/artifacts', { auth: dev });
        // The repository row can be visible a moment before its first artifact (notification apply in progress).
        const body = r.status === 200 ? await r.json() : null;
        return body?.items.length ? body : null;
      });
      assert.equal(res.items.length, 1);
    });
  });
}
