import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

const CLEAN = [{ 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': 'Package: patched\nStatus: install ok installed\nVersion: 2.0-1\n' }];
const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const POLICY_WORDS = /vulnerab|quota|immutable|scanned|Berth blocked|threshold|CVE-/i;

for (const dialect of testDialects()) {
  describe(`/v2 trust pipeline: authenticate, live permissions, the served digest [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    let vulnDigest: string;
    const img = (layers = DEBIAN_LAYERS) => ociImage(path.join(b.config.dataDir, `img-${n++}`), layers, 't');
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(p, { auth: ADMIN, ...init });
    const token = async (scope: string, creds: [string, string] | null = ADMIN) =>
      (await (await b.api(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, creds ? { auth: creds } : {})).json()).token as string;
    const v2 = (p: string, init: RequestInit & { bearer?: string } = {}) =>
      fetch(`${b.url}${p}`, { ...init, headers: { accept: ACCEPT, ...(init.bearer ? { authorization: `Bearer ${init.bearer}` } : {}), ...(init.headers as Record<string, string>) } });
    const scanned = (project: string, repo: string, ref: string) =>
      eventually(async () => (await (await api(`/api/v1/projects/${project}/repositories/${repo}/artifacts/${ref}/vulnerabilities`)).json().catch(() => null))?.status === 'success', 30_000);
    const user = async (name: string): Promise<[string, string]> => {
      const creds: [string, string] = [name, `${name}-Passw0rd!`];
      assert.equal((await api('/api/v1/users', { method: 'POST', json: { username: name, password: creds[1] } })).status, 201);
      return creds;
    };

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'secret' } })).status, 201);
      await api('/api/v1/vulndb/import', { method: 'POST', json: DEBIAN_RECORDS });
      await push(await img(), `docker://${b.host}/secret/app:2`, ADMIN);
      vulnDigest = await inspectDigest(`docker://${b.host}/secret/app:2`, ADMIN);
      await scanned('secret', 'app', '2');
      assert.equal((await api('/api/v1/projects/secret', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high', immutable_tags: ['2'], quota_bytes: 1 } })).status, 200);
    });
    after(async () => b?.destroy());

    it('anonymous and insufficient requests get the registry challenge on every endpoint, never a policy message', async () => {
      const anonToken = await token('repository:secret/app:pull,push,delete', null);
      const otherRepo = await token('repository:secret/other:pull,push,delete');
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: vulnDigest, size: 2 },
        layers: [],
      });
      const requests: [string, string, RequestInit?][] = [
        ['GET', '/v2/secret/app/manifests/2'],
        ['HEAD', '/v2/secret/app/manifests/2'],
        ['GET', `/v2/secret/app/manifests/${vulnDigest}`],
        ['GET', `/v2/secret/app/blobs/${vulnDigest}`],
        ['HEAD', `/v2/secret/app/blobs/${vulnDigest}`],
        ['POST', '/v2/secret/app/blobs/uploads/'],
        ['POST', `/v2/secret/app/blobs/uploads/?mount=${vulnDigest}&from=secret/app`],
        ['PUT', '/v2/secret/app/manifests/2', { body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }],
        ['PUT', '/v2/secret/app/manifests/new', { body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }],
        ['DELETE', `/v2/secret/app/manifests/${vulnDigest}`],
        ['GET', '/v2/secret/app/tags/list'],
        ['GET', `/v2/secret/app/referrers/${vulnDigest}`],
        ['GET', '/v2/_catalog'],
      ];
      for (const bearer of [undefined, anonToken, otherRepo, 'not-a-jwt']) {
        for (const [method, p, init] of requests) {
          const res = await v2(p, { method, bearer, ...init });
          const text = await res.text();
          const what = `${method} ${p} with ${bearer === undefined ? 'no token' : bearer.slice(0, 12)}`;
          assert.equal(res.status, 401, `${what}: ${text}`);
          const challenge = res.headers.get('www-authenticate') ?? '';
          assert.match(challenge, new RegExp(`^Bearer realm="${b.url}/service/token",service="berth-registry"`), what);
          assert.match(challenge, p === '/v2/_catalog' ? /scope="registry:catalog:\*"/ : /scope="repository:secret\/app:/, what);
          if (bearer) assert.match(challenge, /error="(invalid_token|insufficient_scope)"/, what);
          assert.doesNotMatch(text, POLICY_WORDS, what);
          if (method !== 'HEAD') assert.equal(JSON.parse(text).errors[0].code, 'UNAUTHORIZED', what);
        }
      }
      // /v2/ itself: a challenge without scope, then any valid token is welcome
      const base = await v2('/v2/');
      assert.equal(base.status, 401);
      assert.doesNotMatch(base.headers.get('www-authenticate') ?? '', /scope=/);
      assert.equal((await v2('/v2/', { bearer: anonToken })).status, 200);
    });

    it('verifies the token itself: a foreign key, an expired token, another audience are refused', async () => {
      const good = await token('repository:secret/app:pull');
      const [h, c] = good.split('.');
      const claims = JSON.parse(Buffer.from(c!, 'base64url').toString());
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const forge = (payload: object, key = privateKey) => {
        const input = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
        return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      };
      const now = Math.floor(Date.now() / 1000);
      const own = (payload: object) => b.services.tokens.sign(claims.sub, (payload as { access: never }).access ?? claims.access, -300).token;
      const cases: [string, string][] = [
        ['foreign key', forge(claims)],
        [
          'tampered claims',
          `${h}.${Buffer.from(JSON.stringify({ ...claims, access: [{ type: 'repository', name: 'secret/app', actions: ['pull', 'push', 'delete'] }] })).toString('base64url')}.${good.split('.')[2]}`,
        ],
        ['expired', own({})],
        ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${c}.`],
        ['other audience (foreign key)', forge({ ...claims, aud: 'elsewhere', exp: now + 300 })],
      ];
      for (const [what, bearer] of cases) {
        const res = await v2(`/v2/secret/app/manifests/${vulnDigest}`, { method: 'HEAD', bearer });
        assert.equal(res.status, 401, what);
        assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
      }
      // the good token passes authentication and reaches the gate (the image is vulnerable)
      assert.equal((await v2(`/v2/secret/app/manifests/${vulnDigest}`, { method: 'HEAD', bearer: good })).status, 412);
    });

    it('an authorized pull of a vulnerable image gets PROJECTPOLICYVIOLATION, whose message skopeo and podman show after their "unknown:"', async () => {
      const res = await v2('/v2/secret/app/manifests/2', { bearer: await token('repository:secret/app:pull') });
      assert.equal(res.status, 412);
      const body = await res.json();
      assert.equal(body.errors[0].code, 'PROJECTPOLICYVIOLATION');
      assert.match(body.errors[0].message, /2 vulnerabilities at or above high/);
      // What README says each client prints: the message after the client's own "reading manifest … unknown:" (the
      // containers/image library names every code it does not know "unknown"), once from skopeo, and from podman
      // three retries and then the final error.
      const said = body.errors[0].message as string;
      const viaSkopeo = await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/secret/app:2`]);
      assert.match(viaSkopeo, /Berth blocked this pull: secret\/app@sha256:[0-9a-f]{12}… has 2 vulnerabilities at or above high/);
      assert.ok(viaSkopeo.includes(`reading manifest 2 in ${b.host}/secret/app: unknown: ${said}`), viaSkopeo);
      assert.equal(viaSkopeo.split(said).length, 2, 'skopeo says it once');
      assert.doesNotMatch(viaSkopeo, /requested access to the resource is denied|authentication required/);
      await skopeo('login', '--tls-verify=false', '-u', ADMIN[0], '-p', ADMIN[1], b.host).catch(() => undefined);
      const viaPodman = await fails('podman', ['pull', '--tls-verify=false', '--creds', ADMIN.join(':'), `${b.host}/secret/app:2`]);
      assert.match(viaPodman, /Berth blocked this pull: .* has 2 vulnerabilities at or above high/);
      assert.ok(viaPodman.includes(`Error: initializing source docker://${b.host}/secret/app:2: reading manifest 2 in ${b.host}/secret/app: unknown: ${said}`), viaPodman);
      assert.deepEqual(viaPodman.match(/Failed, retrying in 1s \.\.\. \(\d\/3\)/g), ['Failed, retrying in 1s ... (1/3)', 'Failed, retrying in 1s ... (2/3)', 'Failed, retrying in 1s ... (3/3)']);
      assert.equal(viaPodman.split(said).length, 5, 'podman: three retries, then the error');
      assert.doesNotMatch(viaPodman, /requested access to the resource is denied/);
    });

    it('old tokens stop working within seconds when a member is removed, a robot disabled or deleted, a user disabled', async () => {
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'team' } })).status, 201);
      await push(await img(CLEAN), `docker://${b.host}/team/tool:1`, ADMIN);
      const m = await user('member1');
      const gone = await user('leaver1');
      for (const u of ['member1', 'leaver1']) assert.equal((await api('/api/v1/projects/team/members', { method: 'POST', json: { username: u, role: 'developer' } })).status, 201);
      const scope = 'repository:team/tool:pull,push';
      const robotRes = await (await api('/api/v1/robots', { method: 'POST', json: { name: 'ci', project: 'team', permissions: [{ project: 'team', actions: ['pull', 'push'] }] } })).json();
      const robot2 = await (await api('/api/v1/robots', { method: 'POST', json: { name: 'ci2', project: 'team', permissions: [{ project: 'team', actions: ['pull'] }] } })).json();
      const tokens = {
        member: await token(scope, m),
        leaver: await token(scope, gone),
        robot: await token(scope, [robotRes.name, robotRes.secret]),
        robot2: await token('repository:team/tool:pull', [robot2.name, robot2.secret]),
      };
      const head = (bearer: string) => v2('/v2/team/tool/manifests/1', { method: 'HEAD', bearer }).then((r) => r.status);
      const upload = (bearer: string) => v2('/v2/team/tool/blobs/uploads/', { method: 'POST', bearer }).then((r) => r.status);
      for (const t of Object.values(tokens)) assert.equal(await head(t), 200);
      assert.equal(await upload(tokens.leaver), 202);

      const members = await (await api('/api/v1/projects/team/members')).json();
      const leaverId = (members.items ?? members).find((x: { username: string }) => x.username === 'leaver1').user_id;
      assert.equal((await api(`/api/v1/projects/team/members/${leaverId}`, { method: 'DELETE' })).status, 204);
      await api(`/api/v1/robots/${robotRes.id}`, { method: 'PUT', json: { disabled: true } });
      assert.equal((await api(`/api/v1/robots/${robot2.id}`, { method: 'DELETE' })).status, 204);
      await eventually(async () => (await head(tokens.leaver)) === 401 && (await head(tokens.robot)) === 401 && (await head(tokens.robot2)) === 401, 5000);
      assert.equal(await upload(tokens.leaver), 401);
      assert.equal(await upload(tokens.robot), 401);
      // the remaining member is unaffected; then a disabled user loses access too
      assert.equal(await head(tokens.member), 200);
      const users = await (await api('/api/v1/users?q=member1')).json();
      const memberId = (users.items ?? users).find((x: { username: string }) => x.username === 'member1').id;
      assert.equal((await api(`/api/v1/users/${memberId}`, { method: 'PUT', json: { disabled: true } })).status, 200);
      await eventually(async () => (await head(tokens.member)) === 401, 5000);
    });

    it('tokens minted before a project was deleted and re-created under the same name are refused', async () => {
      const owner = await user('owner1');
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: owner, json: { name: 'phoenix' } })).status, 201);
      await push(await img(CLEAN), `docker://${b.host}/phoenix/app:1`, owner);
      const old = await token('repository:phoenix/app:pull,push,delete', owner);
      assert.equal((await v2('/v2/phoenix/app/manifests/1', { method: 'HEAD', bearer: old })).status, 200);
      assert.equal((await b.api('/api/v1/projects/phoenix?force=true', { method: 'DELETE', auth: owner })).status, 204);
      await new Promise((r) => setTimeout(r, 1100)); // a new second: the new project is younger than the token
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: owner, json: { name: 'phoenix' } })).status, 201);
      await push(await img(CLEAN), `docker://${b.host}/phoenix/app:1`, owner);
      for (const [method, p] of [
        ['HEAD', '/v2/phoenix/app/manifests/1'],
        ['POST', '/v2/phoenix/app/blobs/uploads/'],
        ['GET', '/v2/phoenix/app/tags/list'],
      ] as const) {
        const res = await v2(p, { method, bearer: old });
        assert.equal(res.status, 401, `${method} ${p}`);
        assert.match(res.headers.get('www-authenticate') ?? '', /insufficient_scope/);
      }
      assert.equal((await v2('/v2/phoenix/app/manifests/1', { method: 'HEAD', bearer: await token('repository:phoenix/app:pull', owner) })).status, 200);
    });

    it('a blob mount from a repository the caller may no longer read becomes a plain upload', async () => {
      const outsider = await user('mounter1');
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: outsider, json: { name: 'mine' } })).status, 201);
      // a token that (wrongly) carries pull on secret/app: the live check still refuses the mount
      const forged = b.services.tokens.sign('mounter1', [
        { type: 'repository', name: 'mine/app', actions: ['pull', 'push'] },
        { type: 'repository', name: 'secret/app', actions: ['pull'] },
      ]).token;
      // core's own token is exempt from the gate (the scanner reads vulnerable images)
      const internal = b.services.tokens.internal([{ type: 'repository', name: 'secret/app', actions: ['pull'] }]);
      const manifest = await (await v2(`/v2/secret/app/manifests/${vulnDigest}`, { bearer: internal })).json();
      const layer = manifest.layers[0].digest as string;
      // control: someone who may read secret/app does get the mount
      const control = await v2(`/v2/mine/app/blobs/uploads/?mount=${layer}&from=secret/app`, { method: 'POST', bearer: await token('repository:mine/app:pull,push repository:secret/app:pull') });
      assert.equal(control.status, 201);
      const res = await v2(`/v2/mine/app/blobs/uploads/?mount=${layer}&from=secret/app`, { method: 'POST', bearer: forged });
      assert.equal(res.status, 202, 'a plain upload session, not a 201 mount');
    });

    it('the gate judges the digest the registry serves, even right after a tag moved', async () => {
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'race' } })).status, 201);
      await push(await img(CLEAN), `docker://${b.host}/race/app:mv`, ADMIN);
      await scanned('race', 'app', 'mv');
      assert.equal((await api('/api/v1/projects/race', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high', auto_scan: false } })).status, 200);
      const bearer = await token('repository:race/app:pull');
      assert.equal((await v2('/v2/race/app/manifests/mv', { bearer })).status, 200);
      for (let i = 0; i < 3; i++) {
        await push(await img(), `docker://${b.host}/race/app:mv`, ADMIN);
        for (let j = 0; j < 5; j++) {
          const res = await v2('/v2/race/app/manifests/mv', { bearer });
          assert.equal(res.status, 412, `GET ${j} after move ${i}`);
          assert.match((await res.json()).errors[0].message, /has not been scanned yet/);
        }
      }
    });

    it('an index child is judged by its own report; an index passes only if every child does', async () => {
      assert.equal((await api('/api/v1/projects', { method: 'POST', json: { name: 'multi' } })).status, 201);
      assert.equal((await api('/api/v1/projects/multi', { method: 'PUT', json: { auto_scan: false } })).status, 200);
      await push(await img(CLEAN), `docker://${b.host}/multi/app:amd64`, ADMIN);
      await push(await img(), `docker://${b.host}/multi/app:unknown`, ADMIN);
      const push_ = await token('repository:multi/app:pull,push');
      const desc = async (tag: string, platform: object) => {
        const r = await v2(`/v2/multi/app/manifests/${tag}`, { bearer: push_ });
        const body = Buffer.from(await r.arrayBuffer());
        return { mediaType: r.headers.get('content-type'), digest: r.headers.get('docker-content-digest'), size: body.length, platform };
      };
      const clean = await desc('amd64', { os: 'linux', architecture: 'amd64' });
      const vuln = await desc('unknown', { os: 'unknown', architecture: 'unknown' });
      const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [clean, vuln] });
      const put = await v2('/v2/multi/app/manifests/v1', { method: 'PUT', bearer: push_, body: index, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } });
      assert.equal(put.status, 201, await put.text());
      await eventually(async () => (await api('/api/v1/projects/multi/repositories/app/artifacts/v1')).status === 200);
      // only the clean child and the index are scanned; then the gate goes on
      for (const ref of ['amd64', 'v1']) assert.equal((await api(`/api/v1/projects/multi/repositories/app/artifacts/${ref}/scan`, { method: 'POST' })).status, 202);
      await scanned('multi', 'app', 'amd64');
      await scanned('multi', 'app', 'v1');
      assert.equal((await api('/api/v1/projects/multi', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high' } })).status, 200);
      const pull = await token('repository:multi/app:pull');
      assert.equal((await v2(`/v2/multi/app/manifests/${clean.digest}`, { bearer: pull })).status, 200);
      const child = await v2(`/v2/multi/app/manifests/${vuln.digest}`, { bearer: pull });
      assert.equal(child.status, 412);
      assert.match((await child.json()).errors[0].message, /has not been scanned yet/);
      const idx = await v2('/v2/multi/app/manifests/v1', { bearer: pull });
      assert.equal(idx.status, 412);
      assert.match((await idx.json()).errors[0].message, /index .* its child/);
      // scanned, the child is refused for its own findings
      assert.equal((await api(`/api/v1/projects/multi/repositories/app/artifacts/${vuln.digest}/scan`, { method: 'POST' })).status, 202);
      await scanned('multi', 'app', vuln.digest!);
      const after = await v2(`/v2/multi/app/manifests/${vuln.digest}`, { bearer: pull });
      assert.equal(after.status, 412);
      assert.match((await after.json()).errors[0].message, /2 vulnerabilities at or above high/);
    });

    it('an immutable tag cannot be deleted through /v2, and blobs cannot be deleted at all', async () => {
      const all = await token('repository:secret/app:pull,push,delete');
      const del = await v2(`/v2/secret/app/manifests/${vulnDigest}`, { method: 'DELETE', bearer: all });
      assert.equal(del.status, 412);
      assert.match((await del.json()).errors[0].message, /immutable/);
      const blob = await v2(`/v2/secret/app/blobs/${vulnDigest}`, { method: 'DELETE', bearer: all });
      assert.equal(blob.status, 405);
      assert.equal((await api('/api/v1/projects/secret/repositories/app/artifacts/2')).status, 200);
    });
  });
}
