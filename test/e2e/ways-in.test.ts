import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { startReplicaPair, type ReplicaPair } from '../helpers/replicas.js';

/**
 * Rules tried on every way in, where the other suites try one or two: live permissions on each /v2
 * endpoint (an old token of a removed member, a demoted member, a disabled or deleted robot, a former system admin, a
 * project deleted and re-created) and on /service/token; settings (pull gate, quota, immutability) changed on one core
 * and met on another; read-only mode on every write way in; deletions reaching the database whichever way they come;
 * refused requests never counted as pulls. Each runs on one core (both dialects) and on two cores sharing one
 * MariaDB, one registry and its storage, where the change is made on one core and the requests go through the other.
 */

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
type Action = 'pull' | 'push' | 'delete';

interface Topology {
  /** where settings, members and robots are changed (REST as admin) */
  change: () => Instance;
  /** where the /v2, REST and UI requests under test go */
  via: () => Instance;
}

function waysIn(label: string, topo: Topology) {
  let n = 0;
  /** manifest GETs answered 200 per repository: every pull the database may count, and no more */
  const served = new Map<string, number>();
  const admin = (p: string, init: Parameters<Instance['api']>[1] = {}) => topo.change().api(p, { auth: ADMIN, ...init });
  const token = async (scope: string, creds: [string, string] = ADMIN) => {
    const res = await topo.via().api(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, { auth: creds });
    assert.equal(res.status, 200);
    return ((await res.json()) as { token: string }).token;
  };
  const v2 = async (p: string, bearer: string, init: RequestInit = {}) => {
    const res = await fetch(`${topo.via().url}${p}`, { ...init, headers: { accept: ACCEPT, authorization: `Bearer ${bearer}`, ...(init.headers as Record<string, string>) } });
    const m = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(p);
    if (m && (init.method ?? 'GET') === 'GET' && res.status === 200) served.set(m[1]!, (served.get(m[1]!) ?? 0) + 1);
    return res;
  };
  const user = async (name: string, extra: object = {}): Promise<[string, string]> => {
    const creds: [string, string] = [name, `${name}-Passw0rd!`];
    assert.equal((await admin('/api/v1/users', { method: 'POST', json: { username: name, password: creds[1], ...extra } })).status, 201);
    return creds;
  };
  const member = async (project: string, name: string, role: string) => {
    assert.equal((await admin(`/api/v1/projects/${project}/members`, { method: 'POST', json: { username: name, role } })).status, 201);
    const list = await (await admin(`/api/v1/projects/${project}/members`)).json();
    return (list.items ?? list).find((x: { username?: string }) => x.username === name).user_id as number;
  };
  const project = async (name: string) => {
    assert.equal((await admin('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
    assert.equal((await admin(`/api/v1/projects/${name}`, { method: 'PUT', json: { auto_scan: false } })).status, 200);
  };
  /** Pushes a fresh one-layer image and returns its digest, layer and manifest (read with core's own token: no pull). */
  const image = async (repo: string, tag: string) => {
    const inst = topo.via();
    await push(await ociImage(path.join(inst.config.dataDir, `ways-${n++}`), [{ 'etc/id': randomBytes(8).toString('hex') }], 't'), `docker://${inst.host}/${repo}:${tag}`, ADMIN);
    const internal = inst.services.tokens.internal([{ type: 'repository', name: repo, actions: ['pull'] }]);
    const res = await fetch(`${inst.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT, authorization: `Bearer ${internal}` } });
    assert.equal(res.status, 200);
    const manifest = Buffer.from(await res.arrayBuffer());
    const doc = JSON.parse(manifest.toString());
    await eventually(async () => (await admin(`/api/v1/projects/${repo.split('/')[0]}/repositories/${repo.split('/').slice(1).join('%2F')}/artifacts/${tag}`)).status === 200);
    return { digest: sha(manifest), layer: doc.layers[0].digest as string, manifest, mediaType: res.headers.get('content-type')! };
  };

  /**
   * Every /v2 request kind on one repository with the action it needs, as a client holding `bearer` makes it. `session`
   * is an upload the client started while it could (PATCH and PUT continue it).
   */
  const requests = (repo: string, fx: Awaited<ReturnType<typeof image>>, del: string, session: string) => {
    const data = randomBytes(64);
    const q = session.includes('?') ? '&' : '?';
    return [
      ['pull', 'GET manifest by tag', 'GET', `/v2/${repo}/manifests/1`],
      ['pull', 'GET manifest by digest', 'GET', `/v2/${repo}/manifests/${fx.digest}`],
      ['pull', 'HEAD manifest by tag', 'HEAD', `/v2/${repo}/manifests/1`],
      ['pull', 'HEAD manifest by digest', 'HEAD', `/v2/${repo}/manifests/${fx.digest}`],
      ['pull', 'GET blob', 'GET', `/v2/${repo}/blobs/${fx.layer}`],
      ['pull', 'HEAD blob', 'HEAD', `/v2/${repo}/blobs/${fx.layer}`],
      ['pull', 'GET tags/list', 'GET', `/v2/${repo}/tags/list`],
      ['pull', 'GET referrers', 'GET', `/v2/${repo}/referrers/${fx.digest}`],
      ['push', 'POST upload', 'POST', `/v2/${repo}/blobs/uploads/`],
      ['push', 'POST cross-repo mount', 'POST', `/v2/${repo}/blobs/uploads/?mount=${fx.layer}&from=${repo}`],
      ['push', 'PATCH upload', 'PATCH', session, { body: data, headers: { 'content-type': 'application/octet-stream' } }],
      ['push', 'PUT upload', 'PUT', `${session}${q}digest=${sha(data)}`, { body: data, headers: { 'content-type': 'application/octet-stream' } }],
      ['push', 'PUT manifest', 'PUT', `/v2/${repo}/manifests/copy-${n++}`, { body: fx.manifest, headers: { 'content-type': fx.mediaType } }],
      ['delete', 'DELETE manifest', 'DELETE', `/v2/${repo}/manifests/${del}`],
    ] as [Action, string, string, string, RequestInit?][];
  };

  /** Starts an upload session and returns its path and query (the Location the registry gave, made relative). */
  const startSession = async (repo: string, bearer: string) => {
    const res = await v2(`/v2/${repo}/blobs/uploads/`, bearer, { method: 'POST' });
    assert.equal(res.status, 202);
    const loc = new URL(res.headers.get('location')!, topo.via().url);
    return loc.pathname + loc.search;
  };

  /**
   * One principal's old token against every request kind: before the change the pulls and push starts succeed; after
   * it, what `keeps` still passes (not 401) and everything else gets the registry's 401 challenge.
   */
  const tryEveryKind = async (opts: {
    repo: string;
    creds: [string, string];
    change: () => Promise<void>;
    keeps: Action[];
    /** what a token asked for after the change holds: what `keeps` says, all (the owner of a re-created project), or a 401 */
    newToken?: 'keeps' | 'all' | 'refused';
    fresh?: boolean;
  }) => {
    const fx = await image(opts.repo, '1');
    const del = await image(opts.repo, `del-${n++}`);
    const bearer = await token(`repository:${opts.repo}:pull,push,delete`, opts.creds);
    const session = await startSession(opts.repo, bearer);
    for (const [, what, method, p, init] of requests(opts.repo, fx, del.digest, session)) {
      if (method === 'PATCH' || method === 'PUT' || method === 'DELETE') continue; // they would change what is tried next
      const res = await v2(p, bearer, { method, ...init });
      assert.ok([200, 201, 202].includes(res.status), `before, ${what}: ${res.status} ${await res.text()}`);
    }
    await opts.change();
    // within the staleness bound (500 ms) and a generous margin for a loaded machine
    const probe = opts.keeps.includes('pull') ? `/v2/${opts.repo}/blobs/uploads/` : `/v2/${opts.repo}/manifests/1`;
    await eventually(async () => (await v2(probe, bearer, { method: opts.keeps.includes('pull') ? 'POST' : 'HEAD' })).status === 401, 5000);
    for (const [action, what, method, p, init] of requests(opts.repo, fx, del.digest, session)) {
      const res = await v2(p, bearer, { method, ...init });
      const text = await res.text();
      if (opts.keeps.includes(action)) {
        assert.notEqual(res.status, 401, `after, ${what} still allowed: ${text}`);
        continue;
      }
      assert.equal(res.status, 401, `after, ${what}: ${res.status} ${text}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="(insufficient_scope|invalid_token)"/, what);
    }
    // /service/token on the core asked agrees: a new token carries only what is still allowed (or is refused outright)
    const ask = () => topo.via().api(`/service/token?service=berth-registry&scope=${encodeURIComponent(`repository:${opts.repo}:pull,push,delete`)}`, { auth: opts.creds });
    // within the same staleness bound as /v2 (500 ms)
    if (opts.newToken === 'refused') await eventually(async () => (await ask()).status === 401, 5000);
    const again = await ask();
    if (opts.newToken === 'refused') {
      assert.equal(again.status, 401);
      // and so does REST with the same credentials
      assert.equal((await topo.via().api(`/api/v1/projects/${opts.repo.split('/')[0]}/repositories`, { auth: opts.creds })).status, 401);
    } else {
      assert.equal(again.status, 200);
      const claims = JSON.parse(Buffer.from(((await again.json()) as { token: string }).token.split('.')[1]!, 'base64url').toString());
      assert.deepEqual(claims.access.flatMap((a: { actions: string[] }) => a.actions).sort(), opts.newToken === 'all' ? ['delete', 'pull', 'push'] : opts.keeps);
    }
    // the manifest the DELETE aimed at is still there, and so is the upload session's repository content
    assert.equal((await admin(`/api/v1/projects/${opts.repo.split('/')[0]}/repositories/app/artifacts/${del.digest}`)).status, opts.fresh ? 404 : 200);
  };

  describe(`every way in: live permissions on each /v2 endpoint [${label}]`, () => {
    it('a removed member’s old token opens nothing', async () => {
      await project('gone');
      const creds = await user(`leaver`);
      const id = await member('gone', creds[0], 'admin');
      await tryEveryKind({ repo: 'gone/app', creds, keeps: [], change: async () => assert.equal((await admin(`/api/v1/projects/gone/members/${id}`, { method: 'DELETE' })).status, 204) });
    });

    it('a member demoted from admin to guest keeps pulling and can no longer push or delete', async () => {
      await project('demote');
      const creds = await user(`demoted`);
      const id = await member('demote', creds[0], 'admin');
      await tryEveryKind({
        repo: 'demote/app',
        creds,
        keeps: ['pull'],
        change: async () => assert.equal((await admin(`/api/v1/projects/demote/members/${id}`, { method: 'PUT', json: { role: 'guest' } })).status, 204),
      });
    });

    for (const how of ['disabled', 'deleted'] as const) {
      it(`a ${how} robot’s old token opens nothing`, async () => {
        const name = `rb${how}`;
        await project(name);
        const robot = await (
          await admin('/api/v1/robots', { method: 'POST', json: { name: `ci-${how}`, project: name, permissions: [{ project: name, actions: ['pull', 'push', 'delete'] }] } })
        ).json();
        await tryEveryKind({
          repo: `${name}/app`,
          creds: [robot.name, robot.secret],
          keeps: [],
          newToken: 'refused',
          change: async () => {
            const res = how === 'disabled' ? await admin(`/api/v1/robots/${robot.id}`, { method: 'PUT', json: { disabled: true } }) : await admin(`/api/v1/robots/${robot.id}`, { method: 'DELETE' });
            assert.ok(res.status === 200 || res.status === 204, String(res.status));
          },
        });
      });
    }

    it('a token minted before its project was deleted and re-created opens nothing in the new project', async () => {
      const creds = await user(`phoenix`);
      assert.equal((await topo.change().api('/api/v1/projects', { method: 'POST', auth: creds, json: { name: 'phoenix' } })).status, 201);
      await tryEveryKind({
        repo: 'phoenix/app',
        creds,
        keeps: [],
        newToken: 'all',
        fresh: true,
        change: async () => {
          assert.equal((await topo.change().api('/api/v1/projects/phoenix?force=true', { method: 'DELETE', auth: creds })).status, 204);
          await new Promise((r) => setTimeout(r, 1100)); // a new second: the project is younger than the token
          assert.equal((await topo.change().api('/api/v1/projects', { method: 'POST', auth: creds, json: { name: 'phoenix' } })).status, 201);
        },
      });
    });

    it('a former system admin’s catalog token is refused', async () => {
      const creds = await user(`ops`, { admin: true });
      const bearer = await token('registry:catalog:*', creds);
      assert.equal((await v2('/v2/_catalog', bearer)).status, 200);
      const users = await (await admin(`/api/v1/users?q=${creds[0]}`)).json();
      const id = (users.items ?? users).find((u: { username: string }) => u.username === creds[0]).id;
      assert.equal((await admin(`/api/v1/users/${id}`, { method: 'PUT', json: { admin: false } })).status, 200);
      await eventually(async () => (await v2('/v2/_catalog', bearer)).status === 401, 5000);
    });

    it('no refused request was counted as a pull: each repository’s count is exactly its served manifest GETs', async () => {
      for (const repo of ['gone/app', 'demote/app', 'rbdisabled/app', 'rbdeleted/app']) {
        const [p, r] = repo.split('/');
        const count = async () => (await (await admin(`/api/v1/projects/${p}/repositories/${r}`)).json()).pull_count as number;
        const want = served.get(repo) ?? 0;
        assert.ok(want > 0, repo);
        await eventually(async () => (await count()) >= want, 15_000);
        await new Promise((res) => setTimeout(res, 2000)); // pull events are applied in batches: a late one would show now
        assert.equal(await count(), want, repo);
      }
    });
  });

  describe(`every way in: the pull gate, quota and deletions [${label}]`, () => {
    it('the pull gate is on manifests only: a blocked image’s layers still download by digest (as Harbor)', async () => {
      // Harbor attaches its vulnerability and signature middlewares to the manifest GET route only
      // (src/server/registry/route.go); a blob is content-addressed and found only through a manifest the gate served.
      await project('blocked');
      const fx = await image('blocked/app', '1');
      const bearer = await token('repository:blocked/app:pull');
      // served before the gate is on (so the core asked holds the project's settings), refused right after
      assert.equal((await v2('/v2/blocked/app/manifests/1', bearer)).status, 200);
      assert.equal((await admin('/api/v1/projects/blocked', { method: 'PUT', json: { prevent_vulnerable: true, severity: 'high' } })).status, 200);
      await eventually(async () => (await v2('/v2/blocked/app/manifests/1', bearer, { method: 'HEAD' })).status === 412, 5000);
      for (const ref of ['1', fx.digest]) {
        const res = await v2(`/v2/blocked/app/manifests/${ref}`, bearer);
        assert.equal(res.status, 412, ref);
        assert.equal((await res.json()).errors[0].code, 'PROJECTPOLICYVIOLATION');
      }
      const blob = await v2(`/v2/blocked/app/blobs/${fx.layer}`, bearer);
      assert.equal(blob.status, 200);
      assert.equal(sha(Buffer.from(await blob.arrayBuffer())), fx.layer);
    });

    it('quota: a manifest whose blobs came by cross-repository mount counts them; skopeo copy between projects is refused too', async () => {
      await project('big');
      await project('small');
      const inst = topo.via();
      const MiB = 1024 * 1024;
      await push(await ociImage(path.join(inst.config.dataDir, `ways-${n++}`), [{ 'opt/blob': randomBytes(2 * MiB) }], 't'), `docker://${inst.host}/big/app:1`, ADMIN);
      await eventually(async () => (await admin('/api/v1/projects/big/repositories/app/artifacts/1')).status === 200);
      const bearer = await token('repository:small/app:pull,push repository:big/app:pull');
      assert.equal((await v2('/v2/small/app/blobs/uploads/', bearer, { method: 'POST' })).status, 202); // the core asked now holds the project
      assert.equal((await admin('/api/v1/projects/small', { method: 'PUT', json: { quota_bytes: MiB } })).status, 200);
      const internal = inst.services.tokens.internal([{ type: 'repository', name: 'big/app', actions: ['pull'] }]);
      const got = await fetch(`${inst.url}/v2/big/app/manifests/1`, { headers: { accept: ACCEPT, authorization: `Bearer ${internal}` } });
      const manifest = Buffer.from(await got.arrayBuffer());
      const doc = JSON.parse(manifest.toString());
      await new Promise((r) => setTimeout(r, 600)); // past the staleness bound of the /v2 permission and settings cache
      for (const d of [doc.config.digest, doc.layers[0].digest]) {
        const mount = await v2(`/v2/small/app/blobs/uploads/?mount=${d}&from=big/app`, bearer, { method: 'POST' });
        assert.equal(mount.status, 201, `mount of ${d}`);
      }
      const put = await v2('/v2/small/app/manifests/1', bearer, { method: 'PUT', body: manifest, headers: { 'content-type': got.headers.get('content-type')! } });
      assert.equal(put.status, 412);
      assert.match((await put.json()).errors[0].message, /quota/);
      const viaSkopeo = await fails('skopeo', [
        'copy',
        '--retry-times',
        '0',
        '--src-creds',
        ADMIN.join(':'),
        '--dest-creds',
        ADMIN.join(':'),
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${inst.host}/big/app:1`,
        `docker://${inst.host}/small/app:2`,
      ]);
      assert.match(viaSkopeo, /quota/);
      assert.equal((await admin('/api/v1/projects/small/repositories/app/artifacts/2')).status, 404);
    });

    it('immutability set on one core holds for a push through the other at once', async () => {
      await project('immut');
      const fx = await image('immut/app', 'v1');
      const bearer = await token('repository:immut/app:pull,push');
      const again = () => v2('/v2/immut/app/manifests/v1', bearer, { method: 'PUT', body: fx.manifest, headers: { 'content-type': fx.mediaType } });
      assert.equal((await again()).status, 201);
      assert.equal((await admin('/api/v1/projects/immut', { method: 'PUT', json: { immutable_tags: ['v*'] } })).status, 200);
      await eventually(async () => (await again()).status === 412, 5000);
      const res = await again();
      assert.match((await res.json()).errors[0].message, /immutable/);
    });

    it('deletions reach the database whichever way they come: /v2 DELETE (skopeo), REST, UI, a retention run', async () => {
      await project('del');
      const inst = topo.via();
      const fx: Record<string, string> = {};
      for (const tag of ['v2', 'rest', 'ui', 'keep', 'old']) fx[tag] = (await image('del/app', tag)).digest;
      const gone = async (digest: string) => (await admin(`/api/v1/projects/del/repositories/app/artifacts/${digest}`)).status === 404;
      await skopeo('delete', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${inst.host}/del/app@${fx.v2}`);
      await eventually(() => gone(fx.v2!), 10_000);
      assert.equal((await inst.api(`/api/v1/projects/del/repositories/app/artifacts/${fx.rest}`, { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.ok(await gone(fx.rest!));
      const br = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(`${inst.url}${p}`, init) } } as never);
      assert.equal((await br.login('admin', ADMIN_PASSWORD)).status, 303);
      assert.ok([200, 303].includes((await br.post(`/projects/del/repositories/app/artifacts/${fx.ui}/delete`, { _csrf: await br.csrf() })).status));
      assert.ok(await gone(fx.ui!));
      assert.equal((await inst.api('/api/v1/projects/del/retention', { method: 'PUT', auth: ADMIN, json: { rules: [{ repositories: '**', tags: 'keep', retain: { kind: 'always' } }] } })).status, 200);
      const { id } = await (await inst.api('/api/v1/projects/del/retention/run', { method: 'POST', auth: ADMIN, json: { dry_run: false } })).json();
      await eventually(async () => (await (await admin(`/api/v1/jobs/${id}`)).json()).status === 'success', 30_000);
      assert.ok(await gone(fx.old!));
      assert.equal(await gone(fx.keep!), false);
      // and the registry agrees: each is gone there too
      for (const tag of ['v2', 'rest', 'ui', 'old']) {
        const res = await fetch(`${inst.url}/v2/del/app/manifests/${fx[tag]}`, {
          method: 'HEAD',
          headers: { accept: ACCEPT, authorization: `Bearer ${inst.services.tokens.internal([{ type: 'repository', name: 'del/app', actions: ['pull'] }])}` },
        });
        assert.equal(res.status, 404, tag);
      }
    });
  });

  describe(`every way in: read-only mode while garbage collection runs [${label}]`, () => {
    let fx: Awaited<ReturnType<typeof image>>;
    let session: string;
    let bearer: string;
    before(async () => {
      await project('ro');
      fx = await image('ro/app', '1');
      await image('ro/app', 'keep');
      bearer = await token('repository:ro/app:pull,push,delete');
      session = await startSession('ro/app', bearer);
      await topo.change().services.policy.setReadOnly({ reason: 'garbage collection', until: Date.now() + 120_000, jobId: null });
      // the flag is read through a one-second cache on each core
      await eventually(async () => (await v2('/v2/ro/app/blobs/uploads/', bearer, { method: 'POST' })).status === 503, 5000);
    });
    after(async () => topo.change().services.policy.setReadOnly(null));

    it('/v2: every write (upload start, mount, PATCH, PUT, manifest PUT and DELETE) gets a retryable 503; reads pass', async () => {
      for (const [action, what, method, p, init] of requests('ro/app', fx, fx.digest, session)) {
        const res = await v2(p, bearer, { method, ...init });
        const text = await res.text();
        if (action === 'pull') {
          assert.equal(res.status, 200, `${what}: ${text}`);
          continue;
        }
        assert.equal(res.status, 503, `${what}: ${text}`);
        assert.ok(Number(res.headers.get('retry-after')) > 0, what);
      }
    });

    it('REST: deleting a tag, an artifact, a repository or a project gets a retryable 503 and deletes nothing', async () => {
      const inst = topo.via();
      for (const [p, what] of [
        ['/repositories/app/tags/keep', 'tag'],
        [`/repositories/app/artifacts/${fx.digest}`, 'artifact'],
        ['/repositories/app', 'repository'],
        ['?force=true', 'project'],
      ] as const) {
        const res = await inst.api(`/api/v1/projects/ro${p}`, { method: 'DELETE', auth: ADMIN });
        assert.equal(res.status, 503, `${what}: ${await res.text()}`);
        assert.ok(Number(res.headers.get('retry-after')) > 0, what);
      }
      assert.equal((await inst.api('/api/v1/projects/ro/repositories/app/artifacts/keep', { auth: ADMIN })).status, 200);
      assert.equal((await inst.api(`/api/v1/projects/ro/repositories/app/artifacts/${fx.digest}`, { auth: ADMIN })).status, 200);
    });

    it('UI: deleting a tag, an artifact or a repository gets 503 and deletes nothing', async () => {
      const inst = topo.via();
      const br = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(`${inst.url}${p}`, init) } } as never);
      assert.equal((await br.login('admin', ADMIN_PASSWORD)).status, 303);
      const csrf = await br.csrf();
      for (const p of ['/projects/ro/repositories/app/tags/keep/delete', `/projects/ro/repositories/app/artifacts/${fx.digest}/delete`, '/projects/ro/repositories/app/delete']) {
        const res = await br.post(p, { _csrf: csrf });
        assert.equal(res.status, 503, `${p}: ${res.status}`);
      }
      assert.equal((await inst.api(`/api/v1/projects/ro/repositories/app/artifacts/${fx.digest}`, { auth: ADMIN })).status, 200);
    });

    it('a retention run deletes nothing while read-only and says why', async () => {
      const inst = topo.via();
      assert.equal((await inst.api('/api/v1/projects/ro/retention', { method: 'PUT', auth: ADMIN, json: { rules: [{ repositories: '**', tags: 'keep', retain: { kind: 'always' } }] } })).status, 200);
      const run = await inst.api('/api/v1/projects/ro/retention/run', { method: 'POST', auth: ADMIN, json: { dry_run: false } });
      assert.equal(run.status, 202, await run.clone().text());
      const { id } = await run.json();
      const job = await eventually(async () => {
        const j = await (await inst.api(`/api/v1/jobs/${id}`, { auth: ADMIN })).json();
        return ['success', 'error'].includes(j.status) ? j : null;
      }, 30_000);
      assert.equal(job.result?.deleted_count ?? 0, 0, JSON.stringify(job));
      assert.ok(job.result?.failed_count > 0 || job.status === 'error', JSON.stringify(job));
      assert.match(JSON.stringify(job), /read-only/);
      assert.equal((await inst.api(`/api/v1/projects/ro/repositories/app/artifacts/${fx.digest}`, { auth: ADMIN })).status, 200);
    });
  });
}

for (const dialect of testDialects()) {
  describe(`ways in, one core [${dialect}]`, () => {
    let b: Instance;
    before(async () => {
      b = await startInstance(dialect);
    });
    after(async () => b?.destroy());
    waysIn(dialect, { change: () => b, via: () => b });
  });
}

for (const dialect of testDialects().filter((d) => d === 'mysql')) {
  describe('ways in, two cores on one MariaDB: changed on one, asked through the other', () => {
    let pair: ReplicaPair;
    before(async () => {
      pair = await startReplicaPair();
    });
    after(async () => pair?.destroy());
    waysIn(`${dialect}, replicas`, { change: () => pair.a, via: () => pair.b });
  });
}
