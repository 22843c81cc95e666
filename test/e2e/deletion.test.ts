import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage, ociIndex } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';

const SYSTEM = { name: 'test', ip: '127.0.0.1' };

/**
 * One deletion service, every way in: REST (tag, artifact, repository, project), the UI, `/v2` manifest DELETEs
 * (skopeo delete) and the service API retention and GC call. Each refuses to delete an immutable tag's artifact and an
 * index's child on its own.
 */
for (const dialect of testDialects()) {
  describe(`deletion rules on every path [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    let multi: { index: string; children: string[] };
    let v1: string;
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(`/api/v1/projects/del${p}`, { auth: ADMIN, ...init });
    const known = async (repo: string, ref: string) => (await api(`/repositories/${repo}/artifacts/${ref}`)).status === 200;
    const skopeoDelete = (ref: string) => fails('skopeo', ['delete', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/${ref}`]);
    const ui = async () => {
      const br = new Browser({ app: { request: (p: string, init: RequestInit) => fetch(`${b.url}${p}`, init) } } as never);
      assert.equal((await br.login('admin', ADMIN_PASSWORD)).status, 303);
      return { br, csrf: await br.csrf() };
    };

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'del' } })).status, 201);
      await api('', { method: 'PUT', json: { auto_scan: false } });
      const built = await ociIndex(
        path.join(b.config.dataDir, `idx-${n++}`),
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
        'v1',
      );
      multi = built;
      await skopeo('copy', '--all', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', built.ref, `docker://${b.host}/del/multi:v1`);
      await push(await ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ 'etc/tool': 'v1' }], 't'), `docker://${b.host}/del/tool:v1`, ADMIN);
      v1 = await inspectDigest(`docker://${b.host}/del/tool:v1`, ADMIN);
      await eventually(async () => (await known('multi', 'v1')) && (await known('multi', multi.children[1]!)) && (await known('tool', 'v1')));
      await api('', { method: 'PUT', json: { immutable_tags: ['v*'] } });
    });
    after(async () => b?.destroy());

    it('REST: deleting an index child alone is refused with 409 naming the index', async () => {
      const res = await api(`/repositories/multi/artifacts/${multi.children[0]}`, { method: 'DELETE' });
      assert.equal(res.status, 409);
      assert.match((await res.json()).errors[0].message, new RegExp(multi.index));
      assert.ok(await known('multi', multi.children[0]!));
    });

    it('/v2: skopeo delete of an index child is refused, and so is one of an immutable tag', async () => {
      assert.match(await skopeoDelete(`del/multi@${multi.children[1]}`), new RegExp(`index.*${multi.index.slice(7, 19)}|${multi.index}`));
      assert.equal(await inspectDigest(`docker://${b.host}/del/multi@${multi.children[1]}`, ADMIN), multi.children[1]);
      assert.match(await skopeoDelete('del/tool:v1'), /immutable/);
      assert.equal(await inspectDigest(`docker://${b.host}/del/tool:v1`, ADMIN), v1);
      // a re-push cannot rebind v1 either
      const other = await ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ 'etc/tool': 'other' }], 't');
      assert.match(await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', other, `docker://${b.host}/del/tool:v1`]), /immutable/);
      assert.equal(await inspectDigest(`docker://${b.host}/del/tool:v1`, ADMIN), v1);
    });

    it('REST: artifact, tag, repository and forced project deletions keep an immutable tag', async () => {
      for (const [p, what] of [
        [`/repositories/tool/artifacts/${v1}`, 'artifact'],
        ['/repositories/tool/artifacts/v1', 'artifact by tag'],
        ['/repositories/tool/tags/v1', 'tag'],
        ['/repositories/tool', 'repository'],
        ['?force=true', 'project'],
      ] as const) {
        const res = await api(p, { method: 'DELETE' });
        assert.equal(res.status, 412, what);
        assert.match((await res.json()).errors[0].message, /immutable/, what);
      }
      assert.ok(await known('tool', 'v1'));
      assert.ok(await known('multi', 'v1'), 'a refused project deletion touched no repository');
    });

    it('UI: the same refusals', async () => {
      const { br, csrf } = await ui();
      const res = await br.post(`/projects/del/repositories/tool/artifacts/${v1}/delete`, { _csrf: csrf });
      assert.equal(res.status, 412);
      assert.match(await res.text(), /immutable/);
      const child = await br.post(`/projects/del/repositories/multi/artifacts/${multi.children[0]}/delete`, { _csrf: csrf });
      assert.equal(child.status, 409);
      assert.match(await child.text(), /index/);
      const repo = await br.post('/projects/del/repositories/tool/delete', { _csrf: csrf });
      assert.equal(repo.status, 412);
      assert.ok(await known('tool', 'v1'));
    });

    it('the service API (retention, GC) refuses the same, and deletes an index with its children in one request', async () => {
      await assert.rejects(b.services.deletion.deleteArtifacts(SYSTEM, 'del/multi', [multi.children[0]!], { reason: 'retention' }), (e: Error & { code?: string }) => e.code === 'CONFLICT');
      await assert.rejects(b.services.deletion.deleteArtifacts(SYSTEM, 'del/tool', [v1], { reason: 'retention' }), (e: Error & { code?: string }) => e.code === 'PRECONDITION');
      await api('', { method: 'PUT', json: { immutable_tags: [] } });
      const r = await b.services.deletion.deleteArtifacts(SYSTEM, 'del/multi', [multi.children[0]!, multi.index, multi.children[1]!], { reason: 'retention' });
      // the index goes first: at no moment does a kept index list a missing child
      assert.equal(r.deleted[0]!.digest, multi.index);
      assert.deepEqual(r.deleted.map((d) => d.digest).sort(), [multi.index, ...multi.children].sort());
      assert.match(
        await fails('skopeo', ['inspect', '--raw', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/del/multi@${multi.children[0]}`]),
        /manifest unknown|not found/i,
      );
      assert.equal((await api('/repositories/multi')).status, 404);
    });

    it('deleting an artifact deletes its referrers (manifests whose subject it is) with it', async () => {
      await push(await ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ 'etc/signed': 'yes' }], 't'), `docker://${b.host}/del/signed:1`, ADMIN);
      const subject = await inspectDigest(`docker://${b.host}/del/signed:1`, ADMIN);
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:del/signed:pull,push', { auth: ADMIN })).json()).token;
      const empty = Buffer.from('{}');
      const sha = (x: Buffer) => `sha256:${createHash('sha256').update(x).digest('hex')}`;
      const st = await fetch(`${b.url}/v2/del/signed/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      const loc = new URL(st.headers.get('location')!, b.url);
      loc.searchParams.set('digest', sha(empty));
      assert.equal((await fetch(loc, { method: 'PUT', body: new Uint8Array(empty), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } })).status, 201);
      const size = Number(
        (
          await fetch(`${b.url}/v2/del/signed/manifests/${subject}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } })
        ).headers.get('content-length'),
      );
      const referrer = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/vnd.example.sbom+json',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 }],
          subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size },
        }),
      );
      const put = await fetch(`${b.url}/v2/del/signed/manifests/${sha(referrer)}`, {
        method: 'PUT',
        body: new Uint8Array(referrer),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(put.status, 201, await put.text());
      await eventually(async () => known('signed', sha(referrer)));
      assert.equal((await api(`/repositories/signed/artifacts/${subject}`, { method: 'DELETE' })).status, 204);
      assert.ok(!(await known('signed', sha(referrer))), 'the referrer went with its subject');
      const gone = await fetch(`${b.url}/v2/del/signed/manifests/${sha(referrer)}`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(gone.status, 404);
    });

    it('without the rule, skopeo delete goes through and the artifact leaves Berth', async () => {
      await skopeo('delete', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/del/tool:v1`);
      await eventually(async () => !(await known('tool', v1)));
    });
  });
}
