import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Hostile-review findings on the /v2 manifest-from-storage path: each `it` fails on the code it was written against. */
for (const dialect of testDialects()) {
  describe(`/v2 gate and storage path against hostile pushers and clients [${dialect}]`, () => {
    let b: Instance;
    let digest: string;
    const token = async (scope: string) => (await (await b.api(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, { auth: ADMIN })).json()).token as string;

    before(async () => {
      b = await startInstance(dialect);
      for (const name of ['ak', 'other']) assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name } })).status, 201);
      await push(await ociImage(path.join(b.config.dataDir, 'oci'), [{ 'etc/a': 'a' }], 't'), `docker://${b.host}/ak/app:1`, ADMIN);
      digest = await inspectDigest(`docker://${b.host}/ak/app:1`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/ak/repositories/app/artifacts/1', { auth: ADMIN })).status === 200);
    });
    after(async () => b?.destroy());

    it('an Accept value distribution cannot parse does not make Berth serve what the registry refuses', async () => {
      const bearer = await token('repository:ak/app:pull');
      // distribution parses each Accept value with mime.ParseMediaType and skips the ones it cannot parse
      for (const accept of [`${OCI_MANIFEST}; charset`, `${OCI_MANIFEST};a="b`, `application/x;a="b, ${OCI_MANIFEST};c=d"`]) {
        const headers = { authorization: `Bearer ${bearer}`, accept };
        const through = await fetch(`${b.url}/v2/ak/app/manifests/1`, { headers });
        const direct = await fetch(`${b.services.registryUrl()}/v2/ak/app/manifests/1`, { headers });
        await through.arrayBuffer();
        await direct.arrayBuffer();
        assert.equal(through.status, direct.status, `Accept: ${accept}`);
      }
    });

    it('a token scoped to another repository whose name ends in this one does not reach it', async () => {
      // `other/ak/app` is a repository of project `other`; its token says nothing about `ak/app`
      const foreign = await token('repository:other/ak/app:pull');
      const headers = { authorization: `Bearer ${foreign}`, accept: OCI_MANIFEST };
      const direct = await fetch(`${b.services.registryUrl()}/v2/ak/app/manifests/1`, { headers });
      await direct.arrayBuffer();
      assert.equal(direct.status, 401, 'the registry refuses it');
      const through = await fetch(`${b.url}/v2/ak/app/manifests/1`, { headers });
      await through.arrayBuffer();
      assert.equal(through.status, 401, 'Berth answered the manifest from storage with a token for another repository');
    });

    it('the pull gate is not bypassed by pushing an ordinary image under a cosign-style tag', async () => {
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gk' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects/gk', { method: 'PUT', auth: ADMIN, json: { auto_scan: false, prevent_vulnerable: true, severity: 'high' } })).status, 200);
      // the same kind of image twice: once under a plain tag, once under `sha256-<hex>.sig` (what cosign names signatures)
      const sigTag = `sha256-${'ab'.repeat(32)}.sig`;
      await push(await ociImage(path.join(b.config.dataDir, 'g1'), [{ 'bin/x': '1' }], 't'), `docker://${b.host}/gk/app:plain`, ADMIN);
      await push(await ociImage(path.join(b.config.dataDir, 'g2'), [{ 'bin/x': '2' }], 't'), `docker://${b.host}/gk/app:${sigTag}`, ADMIN);
      for (const t of ['plain', sigTag]) await eventually(async () => (await b.api(`/api/v1/projects/gk/repositories/app/artifacts/${t}`, { auth: ADMIN })).status === 200);
      const bearer = await token('repository:gk/app:pull');
      const get = async (ref: string) => {
        const res = await fetch(`${b.url}/v2/gk/app/manifests/${ref}`, { headers: { authorization: `Bearer ${bearer}`, accept: OCI_MANIFEST } });
        await res.arrayBuffer();
        return res.status;
      };
      assert.equal(await get('plain'), 412, 'an unscanned image is refused');
      // a runnable image (image config, tar layers): docker, podman and skopeo pull and run it under any tag
      assert.equal(await get(sigTag), 412, 'the same kind of unscanned image under a cosign-style tag was served');
    });

    it('the pull gate is not bypassed by an image manifest that declares an artifactType or a subject', async () => {
      // the image `gk/app:plain` (refused above, unscanned) re-pushed with one field added; docker, podman and
      // containerd ignore both fields and run the image
      const rw = await token('repository:gk/app:pull,push');
      const plain = await (await fetch(`${b.services.registryUrl()}/v2/gk/app/manifests/plain`, { headers: { authorization: `Bearer ${rw}`, accept: OCI_MANIFEST } })).json();
      const subject = { mediaType: OCI_MANIFEST, digest: `sha256:${'cd'.repeat(32)}`, size: 2 };
      const variants: Record<string, object> = {
        arttype: { ...plain, artifactType: 'application/x.berth.review' },
        sbomtype: { ...plain, artifactType: 'application/spdx+json' },
        subject: { ...plain, subject },
      };
      for (const [t, doc] of Object.entries(variants)) {
        const put = await fetch(`${b.url}/v2/gk/app/manifests/${t}`, { method: 'PUT', headers: { authorization: `Bearer ${rw}`, 'content-type': OCI_MANIFEST }, body: JSON.stringify(doc) });
        assert.equal(put.status, 201, await put.text());
      }
      const bearer = await token('repository:gk/app:pull');
      const statuses: Record<string, number> = {};
      for (const t of Object.keys(variants)) {
        await eventually(async () => (await b.api(`/api/v1/projects/gk/repositories/app/artifacts/${t}`, { auth: ADMIN })).status === 200);
        const res = await fetch(`${b.url}/v2/gk/app/manifests/${t}`, { headers: { authorization: `Bearer ${bearer}`, accept: OCI_MANIFEST } });
        await res.arrayBuffer();
        statuses[t] = res.status;
      }
      assert.deepEqual(statuses, { arttype: 412, sbomtype: 412, subject: 412 });
    });

    it('a gated GET refused after its HEAD preflight passed (the tag moved in between) is not counted as a pull', async () => {
      // `gk/app:arttype` is served (see above: never gated), `gk/app:plain` refused; `gk/app:race` moves between them
      const rw = await token('repository:gk/app:pull,push');
      const bytes = async (t: string) =>
        Buffer.from(await (await fetch(`${b.services.registryUrl()}/v2/gk/app/manifests/${t}`, { headers: { authorization: `Bearer ${rw}`, accept: OCI_MANIFEST } })).arrayBuffer());
      const [bad, good] = [await bytes('plain'), await bytes('arttype')];
      const badDigest = `sha256:${createHash('sha256').update(bad).digest('hex')}`;
      const put = async (body: Buffer) =>
        void (await (
          await fetch(`${b.url}/v2/gk/app/manifests/race`, { method: 'PUT', headers: { authorization: `Bearer ${rw}`, 'content-type': OCI_MANIFEST }, body: new Uint8Array(body) })
        ).arrayBuffer());
      const pullCount = async () => (await (await b.api(`/api/v1/projects/gk/repositories/app/artifacts/${badDigest}`, { auth: ADMIN })).json()).pull_count as number;
      await new Promise((r) => setTimeout(r, 1500));
      const before = await pullCount();
      let stop = false;
      const mover = (async () => {
        for (let i = 0; !stop; i++) await put(i % 2 ? good : bad);
      })();
      const bearer = await token('repository:gk/app:pull');
      let served = 0;
      try {
        for (let i = 0; i < 120; i++) {
          // a conditional GET: the registry answers it, after the HEAD preflight
          const res = await fetch(`${b.url}/v2/gk/app/manifests/race`, { headers: { authorization: `Bearer ${bearer}`, accept: OCI_MANIFEST, 'if-none-match': '"x"' } });
          const body = Buffer.from(await res.arrayBuffer());
          if (res.status === 200 && body.equals(bad)) served++;
        }
      } finally {
        stop = true;
        await mover;
      }
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(served, 0, 'the refused manifest was served');
      assert.equal((await pullCount()) - before, 0, 'pulls counted for a manifest every GET of which was refused');
    });

    it('a pull answered from storage just before a shutdown is still counted', async () => {
      const bearer = await token('repository:ak/app:pull');
      const count = async () => (await (await b.api('/api/v1/projects/ak/repositories/app', { auth: ADMIN })).json()).pull_count as number;
      await new Promise((r) => setTimeout(r, 2000)); // earlier tests' pulls settle
      const before = await count();
      const res = await fetch(`${b.url}/v2/ak/app/manifests/${digest}`, { headers: { authorization: `Bearer ${bearer}`, accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      b = await b.restart();
      await eventually(async () => (await count()) === before + 1, 8000).catch(async (e) => {
        throw new Error(`${e.message}: pull_count ${await count()}, expected ${before + 1}`);
      });
    });
  });
}
