import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage, ociIndex } from '../helpers/oci.js';
import { eventually, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { manifestRevisionLinkPath } from '../../src/registry/storage.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
const ALL = [OCI_INDEX, OCI_MANIFEST, DOCKER_V2, 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');
/** what distribution and Berth must answer alike (Date and connection handling aside) */
const COMPARED = ['content-type', 'content-length', 'docker-content-digest', 'etag', 'docker-distribution-api-version', 'x-content-type-options'];

for (const dialect of testDialects()) {
  describe(`manifest GETs and HEADs answered from the registry's storage [${dialect}]`, () => {
    let b: Instance;
    let bearer: string;
    const pulls: Record<string, string> = {};

    const both = async (p: string, init: { method?: string; accept?: string; headers?: Record<string, string> } = {}) => {
      const headers = { authorization: `Bearer ${bearer}`, ...(init.accept === undefined ? { accept: ALL } : init.accept ? { accept: init.accept } : {}), ...init.headers };
      const through = await fetch(`${b.url}${p}`, { method: init.method ?? 'GET', headers });
      const direct = await fetch(`${b.services.registryUrl()}${p}`, { method: init.method ?? 'GET', headers });
      return { through, direct, throughBody: Buffer.from(await through.arrayBuffer()), directBody: Buffer.from(await direct.arrayBuffer()) };
    };
    const servedFromStorage = async () => (await b.services.metrics.manifestsFromStorage.get()).values[0]?.value ?? 0;
    /** The same request through Berth and straight to the registry: the same answer; `fromStorage`: whether Berth answered it itself. */
    const sameAnswer = async (p: string, init: Parameters<typeof both>[1] & { fromStorage?: boolean } = {}) => {
      const before = await servedFromStorage();
      const r = await both(p, init);
      const what = `${init.method ?? 'GET'} ${p} accept=${init.accept ?? 'all'}`;
      if (init.fromStorage !== undefined) assert.equal((await servedFromStorage()) - before, init.fromStorage ? 1 : 0, `${what}: answered from storage`);
      assert.equal(r.through.status, r.direct.status, what);
      for (const h of COMPARED) assert.equal(r.through.headers.get(h), r.direct.headers.get(h), `${what}: ${h}`);
      assert.deepEqual(r.throughBody, r.directBody, what);
      return r;
    };

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'st' } })).status, 201);
      await push(await ociImage(path.join(b.config.dataDir, 'oci'), [{ 'etc/a': 'a' }], 't'), `docker://${b.host}/st/app:oci`, ADMIN);
      await skopeo(
        'copy',
        '--format',
        'v2s2',
        '--dest-creds',
        ADMIN.join(':'),
        '--dest-tls-verify=false',
        await ociImage(path.join(b.config.dataDir, 'v2'), [{ 'etc/b': 'b' }], 't'),
        `docker://${b.host}/st/app:docker`,
      );
      const idx = await ociIndex(path.join(b.config.dataDir, 'idx'), [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ]);
      await skopeo('copy', '--all', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', idx.ref, `docker://${b.host}/st/app:multi`);
      pulls.oci = await inspectDigest(`docker://${b.host}/st/app:oci`, ADMIN);
      pulls.docker = await inspectDigest(`docker://${b.host}/st/app:docker`, ADMIN);
      pulls.multi = idx.index;
      bearer = (await (await b.api('/service/token?service=berth-registry&scope=repository:st/app:pull', { auth: ADMIN })).json()).token;
    });
    after(async () => b?.destroy());

    it('answers exactly as the registry does: OCI and Docker manifests and an index, by tag and by digest, GET and HEAD', async () => {
      for (const [tag, type] of [
        ['oci', OCI_MANIFEST],
        ['docker', DOCKER_V2],
        ['multi', OCI_INDEX],
      ] as const) {
        for (const ref of [tag, pulls[tag]!]) {
          for (const method of ['GET', 'HEAD']) {
            const r = await sameAnswer(`/v2/st/app/manifests/${ref}`, { method, fromStorage: true });
            assert.equal(r.through.status, 200);
            assert.equal(r.through.headers.get('content-type'), type);
            assert.equal(r.through.headers.get('docker-content-digest'), pulls[tag]);
          }
        }
      }
    });

    it('leaves to the registry what it converts or refuses: narrow Accept headers, unknown references, conditional GETs', async () => {
      // distribution refuses an OCI manifest to a client that does not accept OCI, converts or picks for others
      await sameAnswer('/v2/st/app/manifests/oci', { accept: DOCKER_V2, fromStorage: false });
      await sameAnswer(`/v2/st/app/manifests/${pulls.oci}`, { accept: DOCKER_V2, fromStorage: false });
      await sameAnswer('/v2/st/app/manifests/multi', { accept: OCI_MANIFEST, fromStorage: false });
      await sameAnswer('/v2/st/app/manifests/nope', { fromStorage: false });
      await sameAnswer(`/v2/st/app/manifests/sha256:${'0'.repeat(64)}`, { fromStorage: false });
      // a digest stored in another repository is not part of this one
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'st2' } })).status, 201);
      await push(await ociImage(path.join(b.config.dataDir, 'other'), [{ 'etc/c': 'c' }], 't'), `docker://${b.host}/st2/other:1`, ADMIN);
      const foreign = await inspectDigest(`docker://${b.host}/st2/other:1`, ADMIN);
      const r = await sameAnswer(`/v2/st/app/manifests/${foreign}`, { fromStorage: false });
      assert.equal(r.through.status, 404);
      const etag = `"${pulls.oci}"`;
      const c = await sameAnswer('/v2/st/app/manifests/oci', { headers: { 'if-none-match': etag }, fromStorage: false });
      assert.equal(c.through.status, 304);
    });

    it('a manifest whose stored bytes do not match its digest is never served from storage', async () => {
      const m = b.services.managedRegistry()!;
      const link = manifestRevisionLinkPath(m.storageDir, 'st/app', pulls.docker!)!;
      const saved = fs.readFileSync(link, 'utf8');
      fs.writeFileSync(link, ''); // a link being written
      try {
        const r = await sameAnswer(`/v2/st/app/manifests/${pulls.docker}`, { fromStorage: false });
        assert.notEqual(r.through.status, 200);
      } finally {
        fs.writeFileSync(link, saved);
      }
      assert.equal((await sameAnswer(`/v2/st/app/manifests/${pulls.docker}`, { fromStorage: true })).through.status, 200);
    });

    it('an OCI manifest stored without mediaType (older OCI tools write none) is served as the registry serves it', async () => {
      const push = await (await b.api('/service/token?service=berth-registry&scope=repository:st/app:pull,push', { auth: ADMIN })).json();
      const auth = { authorization: `Bearer ${push.token}` };
      const blob = async (data: Buffer) => {
        const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        const start = await fetch(`${b.url}/v2/st/app/blobs/uploads/`, { method: 'POST', headers: auth });
        const loc = new URL(start.headers.get('location')!, b.url);
        loc.searchParams.set('digest', digest);
        assert.equal((await fetch(loc, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: new Uint8Array(data) })).status, 201);
        return { digest, size: data.length };
      };
      const config = await blob(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
      const manifest = JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] });
      const put = await fetch(`${b.url}/v2/st/app/manifests/bare`, { method: 'PUT', headers: { ...auth, 'content-type': OCI_MANIFEST }, body: manifest });
      assert.equal(put.status, 201, await put.text());
      const r = await sameAnswer('/v2/st/app/manifests/bare', { fromStorage: true });
      assert.equal(r.through.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(r.throughBody.toString(), manifest);
    });

    it('records each GET answered from storage as a pull: access log, pull count; HEADs are not pulls', async () => {
      await push(await ociImage(path.join(b.config.dataDir, 'counted'), [{ 'etc/e': 'e' }], 't'), `docker://${b.host}/st/counted:1`, ADMIN);
      const count = async () => (await (await b.api('/api/v1/projects/st/repositories/counted', { auth: ADMIN })).json()).pull_count as number;
      const logged = async () => ((await (await b.api('/api/v1/audit-logs?action=pull&resource=st/counted:1&limit=100', { auth: ADMIN })).json()).items as unknown[]).length;
      await eventually(async () => (await b.api('/api/v1/projects/st/repositories/counted/artifacts/1', { auth: ADMIN })).status === 200);
      assert.deepEqual([await count(), await logged()], [0, 0]);
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:st/counted:pull', { auth: ADMIN })).json()).token;
      const headers = { authorization: `Bearer ${token}`, accept: ALL, 'user-agent': 'berth-test/1' };
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${b.url}/v2/st/counted/manifests/1`, { headers })).status, 200);
      assert.equal((await fetch(`${b.url}/v2/st/counted/manifests/1`, { method: 'HEAD', headers })).status, 200);
      await eventually(async () => (await count()) === 3 && (await logged()) === 3, 10_000).catch(async (e) => {
        throw new Error(`${e.message}: count ${await count()}, logged ${await logged()}`);
      });
      const rows = (await (await b.api('/api/v1/audit-logs?action=pull&resource=st/counted:1&limit=1', { auth: ADMIN })).json()).items;
      assert.equal(rows[0].username, 'admin');
      // no pull is counted twice: the registry saw none of these requests and sent no event of its own
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual([await count(), await logged()], [3, 3]);
    });

    it('a pull the gate refuses is never counted as a pull, whether Berth or the registry would have answered it', async () => {
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gt' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects/gt', { method: 'PUT', auth: ADMIN, json: { auto_scan: false, prevent_vulnerable: true, severity: 'high' } })).status, 200);
      await push(await ociImage(path.join(b.config.dataDir, 'gated'), [{ 'etc/g': 'g' }], 't'), `docker://${b.host}/gt/app:1`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/gt/repositories/app/artifacts/1', { auth: ADMIN })).status === 200);
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:gt/app:pull', { auth: ADMIN })).json()).token;
      const get = async (headers: Record<string, string> = {}) => {
        const res = await fetch(`${b.url}/v2/gt/app/manifests/1`, { headers: { authorization: `Bearer ${token}`, accept: ALL, ...headers } });
        return { status: res.status, code: (await res.json()).errors?.[0]?.code };
      };
      const before = await servedFromStorage();
      // answered from storage; then a conditional GET, which only the registry answers
      assert.deepEqual(await get(), { status: 412, code: 'PROJECTPOLICYVIOLATION' });
      assert.deepEqual(await get({ 'if-none-match': '"sha256:other"' }), { status: 412, code: 'PROJECTPOLICYVIOLATION' });
      assert.equal(await servedFromStorage(), before);
      const rows = async (action: string) =>
        ((await (await b.api(`/api/v1/audit-logs?action=${action}&limit=100`, { auth: ADMIN })).json()).items as { resource: string }[]).filter((r) => r.resource.startsWith('gt/app')).length;
      await eventually(async () => (await rows('pull_refused')) === 2);
      // the registry saw no GET (only a HEAD, which is no pull): no pull event, no pull counted
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(await rows('pull'), 0);
      assert.equal((await (await b.api('/api/v1/projects/gt/repositories/app', { auth: ADMIN })).json()).pull_count, 0);
    });

    it('a deleted manifest is gone at once, though it was served from storage before', async () => {
      await push(await ociImage(path.join(b.config.dataDir, 'gone'), [{ 'etc/d': 'd' }], 't'), `docker://${b.host}/st/app:gone`, ADMIN);
      const digest = await inspectDigest(`docker://${b.host}/st/app:gone`, ADMIN);
      const get = () => fetch(`${b.url}/v2/st/app/manifests/${digest}`, { headers: { authorization: `Bearer ${bearer}`, accept: ALL } });
      assert.equal((await get()).status, 200);
      await eventually(async () => (await b.api(`/api/v1/projects/st/repositories/app/artifacts/${digest}`, { auth: ADMIN })).status === 200);
      assert.equal((await b.api(`/api/v1/projects/st/repositories/app/artifacts/${digest}`, { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.equal((await get()).status, 404);
      assert.equal((await fetch(`${b.url}/v2/st/app/manifests/gone`, { headers: { authorization: `Bearer ${bearer}`, accept: ALL } })).status, 404);
    });
  });
}
