import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import {
  cosignSign,
  cosignSignature,
  cosignTag,
  helmChart,
  intotoAttestation,
  ociArtifact,
  ociIndex,
  plainImage,
  sifImage,
  simpleSigningPayload,
  spdxReferrer,
  testKey,
  type BuiltArtifact,
} from '../helpers/artifacts.js';
import { testDialects } from '../helpers/db.js';
import { eventually, skopeo, startInstance, type Instance } from '../helpers/registry.js';

for (const dialect of testDialects()) {
  describe(`artifacts: types, referrers, per-type scanning and gate [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    const dir = () => path.join(b.config.dataDir, `art-${n++}`);
    /** skopeo copy of a hand-made layout, byte for byte. */
    const pushArtifact = async (built: BuiltArtifact, dest: string, all = false) => {
      await skopeo('copy', '--retry-times', '0', '--preserve-digests', ...(all ? ['--all'] : []), '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', built.ref, `docker://${b.host}/${dest}`);
      return built;
    };
    const artifact = async (repo: string, ref: string) => {
      const res = await b.api(`/api/v1/projects/art/repositories/${encodeURIComponent(repo)}/artifacts/${ref}`, { auth: ADMIN });
      // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, asserted field by field
      return res.status === 200 ? ((await res.json()) as Record<string, any>) : null;
    };
    /** Waits for the notification of a push to be applied; on a timeout, says what the inbox and tags held. */
    const imported = async (repo: string, ref: string) => {
      try {
        return await eventually(() => artifact(repo, ref), 15_000);
      } catch (err) {
        const { db } = b;
        const inbox = await db.selectFrom('notification_inbox').select(['payload', 'applied_at', 'attempts', 'error']).execute();
        const tags = await db.selectFrom('tags as t').innerJoin('repositories as r', 'r.id', 't.repository_id').select(['r.name', 't.name as tag']).execute();
        const events = inbox.map((i) => {
          const e = JSON.parse(i.payload);
          return `${e.action} ${e.target.repository}${e.target.tag ? `:${e.target.tag}` : ''}@${String(e.target.digest).slice(7, 15)} applied=${i.applied_at !== null} attempts=${i.attempts} ${i.error ?? ''}`;
        });
        throw new Error(`${repo}:${ref} not imported: ${(err as Error).message}\ninbox:\n${events.join('\n')}\ntags: ${tags.map((t) => `${t.name}:${t.tag}`).join(' ')}`);
      }
    };

    const pushed: Record<string, BuiltArtifact> = {};

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'art' } })).status, 201);
      // auto-scan off for the type checks: scanning is tested on its own below
      await b.api('/api/v1/projects/art', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
      const imgDir = dir();
      pushed.image = await pushArtifact(ociArtifact(imgDir, await plainImage(), 'v1'), 'art/app:v1');
      const idxDir = dir();
      const child = ociArtifact(idxDir, await plainImage(), 'child');
      pushed.indexChild = child;
      pushed.index = await pushArtifact(ociIndex(idxDir, [{ built: child, platform: { os: 'linux', architecture: 'amd64' } }], 'multi'), 'art/app:multi', true);
      pushed.chart = await pushArtifact(ociArtifact(dir(), helmChart('web', '1.2.0'), '1.2.0'), 'art/charts/web:1.2.0');
      pushed.sif = await pushArtifact(ociArtifact(dir(), sifImage(), 'latest'), 'art/lolcow:latest');
      pushed.sbom = await pushArtifact(ociArtifact(dir(), spdxReferrer(pushed.image), 'sbom'), 'art/app:sbom');
      pushed.att = await pushArtifact(ociArtifact(dir(), intotoAttestation(pushed.image.digest), 'att'), `art/app:${cosignTag(pushed.image.digest, 'att')}`);
      const k = testKey('ec');
      const payload = simpleSigningPayload(`${b.host}/art/app`, pushed.image.digest);
      pushed.sig = await pushArtifact(ociArtifact(dir(), cosignSignature([{ payload, signature: cosignSign(payload, k.privateKey) }]), 'sig'), `art/app:${cosignTag(pushed.image.digest)}`);
    });
    after(async () => b?.destroy());

    it('classifies each pushed type and carries artifact_type, config_media_type and subject', async () => {
      const expect: [string, string, Record<string, unknown>][] = [
        ['app', pushed.image!.digest, { type: 'image', subject: null, config_media_type: 'application/vnd.oci.image.config.v1+json', artifact_type: null }],
        ['app', pushed.index!.digest, { type: 'index', subject: null }],
        ['app', pushed.indexChild!.digest, { type: 'image' }],
        ['charts/web', '1.2.0', { type: 'chart', config_media_type: 'application/vnd.cncf.helm.config.v1+json' }],
        ['lolcow', 'latest', { type: 'sif', config_media_type: 'application/vnd.sylabs.sif.config.v1+json' }],
        ['app', pushed.sbom!.digest, { type: 'sbom', artifact_type: 'application/spdx+json', subject: pushed.image!.digest }],
        ['app', pushed.att!.digest, { type: 'attestation', subject: pushed.image!.digest }],
        ['app', pushed.sig!.digest, { type: 'signature', subject: pushed.image!.digest, signed_by: [] }],
      ];
      for (const [repo, ref, fields] of expect) {
        const a = await imported(repo, ref);
        for (const [k, v] of Object.entries(fields)) assert.deepEqual(a[k], v, `${repo}@${ref} ${k}`);
      }
      const img = await imported('app', pushed.image!.digest);
      const refs = (img.referrers as { digest: string; type: string }[]).map((r) => `${r.type}:${r.digest}`).sort();
      assert.deepEqual(refs, [`attestation:${pushed.att!.digest}`, `sbom:${pushed.sbom!.digest}`, `signature:${pushed.sig!.digest}`].sort());
    });

    const token = async (scope: string, auth: [string, string] | null = ADMIN) =>
      (await (await b.api(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, auth ? { auth } : {})).json()).token as string;
    const referrers = (repo: string, digest: string, tok: string | null, query = '') =>
      fetch(`${b.url}/v2/art/${repo}/referrers/${digest}${query}`, { headers: tok ? { authorization: `Bearer ${tok}` } : {} });

    /** What `oras attach` / `notation sign` do against a registry: blobs by monolithic upload, the manifest by digest. */
    const putByDigest = async (repo: string, built: BuiltArtifact, blobs: Buffer[]) => {
      const tok = await token(`repository:art/${repo}:pull,push`);
      const h = { authorization: `Bearer ${tok}` };
      for (const blob of blobs) {
        const d = `sha256:${(await import('node:crypto')).createHash('sha256').update(blob).digest('hex')}`;
        const start = await fetch(`${b.url}/v2/art/${repo}/blobs/uploads/`, { method: 'POST', headers: h });
        assert.equal(start.status, 202);
        const loc = new URL(start.headers.get('location')!, b.url);
        loc.searchParams.set('digest', d);
        const put = await fetch(loc, { method: 'PUT', headers: { ...h, 'content-type': 'application/octet-stream' }, body: new Uint8Array(blob) });
        assert.equal(put.status, 201, await put.text());
      }
      const res = await fetch(`${b.url}/v2/art/${repo}/manifests/${built.digest}`, { method: 'PUT', headers: { ...h, 'content-type': built.mediaType }, body: new Uint8Array(built.manifest) });
      assert.equal(res.status, 201, await res.text());
    };

    it('serves the referrers API from the database as an OCI image index', async () => {
      const tok = await token('repository:art/app:pull');
      const subject = pushed.image!.digest;
      const res = await eventually(async () => {
        const r = await referrers('app', subject, tok);
        const body = r.status === 200 ? await r.clone().json() : null;
        return body?.manifests?.length === 3 ? r : null;
      });
      assert.equal(res.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
      assert.equal(res.headers.get('oci-filters-applied'), null);
      const idx = await res.json();
      assert.equal(idx.schemaVersion, 2);
      assert.equal(idx.mediaType, 'application/vnd.oci.image.index.v1+json');
      const sbom = idx.manifests.find((m: { digest: string }) => m.digest === pushed.sbom!.digest);
      assert.deepEqual(sbom, {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: pushed.sbom!.digest,
        size: pushed.sbom!.size,
        artifactType: 'application/spdx+json',
        annotations: { 'org.opencontainers.image.created': '2026-11-29T12:00:00Z', 'org.example.tool': 'berth-test' },
      });
      for (const m of idx.manifests) for (const k of ['mediaType', 'digest', 'size', 'artifactType']) assert.ok(m[k] !== undefined, `${m.digest} has ${k}`);

      const filtered = await referrers('app', subject, tok, `?artifactType=${encodeURIComponent('application/spdx+json')}`);
      assert.equal(filtered.status, 200);
      assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(
        (await filtered.json()).manifests.map((m: { digest: string }) => m.digest),
        [pushed.sbom!.digest],
      );
      const none = await referrers('app', subject, tok, '?artifactType=application%2Fvnd.example.none');
      assert.deepEqual((await none.json()).manifests, []);

      // a subject nothing refers to (or not pushed yet) has an empty list, never a 404
      const empty = await referrers('app', `sha256:${'0'.repeat(64)}`, tok);
      assert.equal(empty.status, 200);
      assert.deepEqual((await empty.json()).manifests, []);
      assert.equal((await referrers('app', subject, tok, '?artifactType=')).status, 400);
      assert.equal((await fetch(`${b.url}/v2/art/app/referrers/${subject}`, { method: 'DELETE', headers: { authorization: `Bearer ${tok}` } })).status, 405);
    });

    it('applies the token rules of a manifest GET: challenge, wrong repository, outsiders, unknown repositories', async () => {
      const subject = pushed.image!.digest;
      const anon = await referrers('app', subject, null);
      assert.equal(anon.status, 401);
      const challenge = anon.headers.get('www-authenticate') ?? '';
      assert.match(challenge, new RegExp(`realm="${b.url}/service/token"`));
      assert.match(challenge, /scope="repository:art\/app:pull"/);
      // a token for another repository, and a token of a user who is not a member (empty access), are refused
      assert.equal((await referrers('app', subject, await token('repository:art/lolcow:pull'))).status, 401);
      const u = await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'outsider', password: 'outsider-pw-123' } });
      assert.equal(u.status, 201);
      const outsider = await token('repository:art/app:pull', ['outsider', 'outsider-pw-123']);
      assert.equal((await referrers('app', subject, outsider)).status, 401);
      assert.equal((await referrers('app', subject, 'not-a-token')).status, 401);
      // a repository nobody pushed
      const missing = await referrers('nothing-here', subject, await token('repository:art/nothing-here:pull'));
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).errors[0].code, 'NAME_UNKNOWN');
    });

    it('lists what oras attach and notation sign push by digest, and keeps the sha256-<hex> fallback tag working', async () => {
      const subject = pushed.chart!;
      const notationDir = dir();
      const payload = Buffer.from(JSON.stringify({ payload: 'eyJ0YXJnZXRBcnRpZmFjdCI6e319', protected: 'e30', signature: 'c2ln' }));
      const notation = ociArtifact(notationDir, {
        artifactType: 'application/vnd.cncf.notary.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', data: '{}' },
        layers: [{ mediaType: 'application/jose+json', data: payload }],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '["abc"]' },
      });
      await putByDigest('charts/web', notation, [Buffer.from('{}'), payload]);
      // what oras does when a registry lacks the referrers API: an index of referrers under the tag sha256-<hex>
      const tok = await token('repository:art/charts/web:pull,push');
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [{ mediaType: notation.mediaType, digest: notation.digest, size: notation.size, artifactType: 'application/vnd.cncf.notary.signature' }],
        }),
      );
      const put = await fetch(`${b.url}/v2/art/charts/web/manifests/sha256-${subject.digest.slice(7)}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/vnd.oci.image.index.v1+json' },
        body: new Uint8Array(body),
      });
      assert.equal(put.status, 201, await put.text());

      const listed = await eventually(async () => {
        const r = await referrers('charts/web', subject.digest, await token('repository:art/charts/web:pull'));
        const j = await r.json();
        return j.manifests.length === 1 ? j : null;
      });
      assert.equal(listed.manifests[0].digest, notation.digest);
      assert.equal(listed.manifests[0].artifactType, 'application/vnd.cncf.notary.signature');
      assert.deepEqual(listed.manifests[0].annotations, { 'io.cncf.notary.x509chain.thumbprint#S256': '["abc"]' });
      const sig = await imported('charts/web', notation.digest);
      assert.equal(sig.type, 'signature');
      assert.equal(sig.subject, subject.digest);
      // the fallback tag is served as it was pushed, and is not itself a referrer
      const got = await fetch(`${b.url}/v2/art/charts/web/manifests/sha256-${subject.digest.slice(7)}`, {
        headers: { authorization: `Bearer ${tok}`, accept: 'application/vnd.oci.image.index.v1+json' },
      });
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), body);
      const fb = await imported('charts/web', `sha256-${subject.digest.slice(7)}`);
      assert.equal(fb.type, 'index');
      assert.equal(fb.subject, null);
    });

    const report = async (repo: string, ref: string) => {
      const res = await b.api(`/api/v1/projects/art/repositories/${encodeURIComponent(repo)}/artifacts/${ref}/vulnerabilities`, { auth: ADMIN });
      return res.status === 200 ? await res.json() : null;
    };
    const scan = async (repo: string, ref: string) => {
      const res = await b.api(`/api/v1/projects/art/repositories/${encodeURIComponent(repo)}/artifacts/${ref}/scan`, { method: 'POST', auth: ADMIN });
      assert.equal(res.status, 202, await res.text());
      return eventually(async () => {
        const r = await report(repo, ref);
        return r && r.status !== 'running' ? r : null;
      }, 30_000);
    };

    it('scans images and SIF files: every other type gets a report whose completeness is not_applicable, never a clean one', async () => {
      await imported('app', 'v1');
      const img = await scan('app', 'v1');
      assert.equal(img.status, 'success');
      assert.notEqual(img.completeness, 'not_applicable');
      for (const [repo, ref] of [
        ['charts/web', '1.2.0'],
        ['app', pushed.sbom!.digest],
        ['app', pushed.sig!.digest],
        ['app', pushed.att!.digest],
      ] as const) {
        const r = await scan(repo, ref);
        assert.equal(r.status, 'success', `${repo}@${ref}`);
        assert.equal(r.completeness, 'not_applicable', `${repo}@${ref}`);
        assert.equal(r.summary.total, 0);
        assert.match(r.problems[0], /not scanned/);
      }
      // the SIF is scanned; its stub layer is no SIF file, so the report is incomplete and says why, never clean
      const sif = await scan('lolcow', 'latest');
      assert.equal(sif.completeness, 'incomplete');
      assert.equal(sif.summary.total, 0);
      assert.equal(sif.gaps.length, 1);
      assert.match(sif.gaps[0].reason, /SIF could not be read: not a SIF file/);
      // the index is scanned through its platform image
      await imported('app', 'multi');
      assert.equal((await scan('app', 'multi')).status, 'success');
    });

    const setProject = async (json: Record<string, unknown>, status = 200) => {
      const res = await b.api('/api/v1/projects/art', { method: 'PUT', auth: ADMIN, json });
      assert.equal(res.status, status, await res.clone().text());
      return res.json();
    };
    const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';
    const getManifest = async (repo: string, ref: string, method = 'GET') => {
      const res = await fetch(`${b.url}/v2/art/${repo}/manifests/${ref}`, { method, headers: { authorization: `Bearer ${await token(`repository:art/${repo}:pull`)}`, accept: ACCEPT } });
      const body = method === 'GET' ? await res.text() : '';
      return { status: res.status, error: res.status >= 400 && body ? (JSON.parse(body).errors[0] as { code: string; message: string }) : null };
    };

    it('gates per type: referrers and charts pass, an unreadable SIF counts as unscanned, images stay gated', async () => {
      await setProject({ prevent_vulnerable: true, severity: 'high', unscanned_policy: 'block' });
      await eventually(async () => (await getManifest('lolcow', 'latest')).status === 412);
      for (const [repo, ref] of [
        ['app', pushed.sbom!.digest],
        ['app', pushed.sig!.digest],
        ['app', cosignTag(pushed.image!.digest)],
        ['app', pushed.att!.digest],
        ['charts/web', '1.2.0'],
        ['charts/web', `sha256-${pushed.chart!.digest.slice(7)}`],
        ['app', 'v1'],
      ] as const) {
        for (const method of ['GET', 'HEAD']) assert.equal((await getManifest(repo, ref, method)).status, 200, `${method} ${repo}:${ref}`);
      }
      // a chart nobody scanned is not CVE-gated either
      await pushArtifact(ociArtifact(dir(), helmChart('api', '0.1.0'), '0.1.0'), 'art/charts/api:0.1.0');
      await imported('charts/api', '0.1.0');
      assert.equal((await getManifest('charts/api', '0.1.0')).status, 200);
      // SIF runs, and Berth could not read this one: its incomplete report is no verdict, so the project's unscanned
      // policy decides
      const sif = await getManifest('lolcow', 'latest');
      assert.equal(sif.status, 412);
      assert.match(sif.error!.message, /could not be scanned completely/);
      // an image without a scan is still blocked
      await pushArtifact(ociArtifact(dir(), await plainImage(), 'v2'), 'art/app:v2');
      await imported('app', 'v2');
      assert.match((await getManifest('app', 'v2')).error!.message, /has not been scanned yet/);
      await setProject({ unscanned_policy: 'allow' });
      await eventually(async () => (await getManifest('lolcow', 'latest')).status === 200);
      await setProject({ prevent_vulnerable: false, unscanned_policy: 'block' });
    });

    it('signed-only: serves images signed by a project key (ECDSA P-256 or Ed25519), refuses unsigned and wrongly signed ones', async () => {
      const ci = testKey('ec');
      const release = testKey('ed25519');
      // validation: bad PEM, an RSA key, duplicate names, signed-only without a key
      const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await setProject({ signature_keys: [{ name: 'x', pem: 'not a key' }] }, 400);
      const badAlg = await b.api('/api/v1/projects/art', { method: 'PUT', auth: ADMIN, json: { signature_keys: [{ name: 'x', pem: rsa }] } });
      assert.equal(badAlg.status, 400);
      assert.match((await badAlg.json()).errors[0].message, /ECDSA P-256 or Ed25519/);
      await setProject(
        {
          signature_keys: [
            { name: 'x', pem: ci.pem },
            { name: 'x', pem: release.pem },
          ],
        },
        400,
      );
      await setProject({ require_signature: true }, 400);

      const p = await setProject({
        signature_keys: [
          { name: 'ci', pem: ci.pem },
          { name: 'release', pem: release.pem },
        ],
        require_signature: true,
      });
      assert.deepEqual(
        p.signature_keys.map((k: { name: string }) => k.name),
        ['ci', 'release'],
      );
      assert.equal(p.require_signature, true);

      // v1 carries a signature made with a key the project does not hold
      const wrong = await eventually(async () => {
        const r = await getManifest('app', 'v1');
        return r.status === 412 ? r : null;
      });
      assert.equal(wrong.status, 412);
      assert.equal(wrong.error!.code, 'PROJECTPOLICYVIOLATION');
      assert.match(wrong.error!.message, /has 1 signature, but none is valid for the project's keys \(ci, release\)/);
      // v2 has none
      assert.match((await getManifest('app', 'v2')).error!.message, /is not signed/);
      // HEAD serves no content: signers resolve the digest they sign with it
      assert.equal((await getManifest('app', 'v2', 'HEAD')).status, 200);
      // referrers are never gated
      assert.equal((await getManifest('app', pushed.sbom!.digest)).status, 200);

      // sign v2 with the ci key (cosign's tag scheme)
      const v2 = (await imported('app', 'v2')).digest as string;
      const payload = simpleSigningPayload(`${b.host}/art/app`, v2);
      await pushArtifact(ociArtifact(dir(), cosignSignature([{ payload, signature: cosignSign(payload, ci.privateKey) }]), 'sig'), `art/app:${cosignTag(v2)}`);
      await eventually(async () => (await getManifest('app', 'v2')).status === 200);
      assert.deepEqual((await artifact('app', 'v2'))!.signed_by, ['ci']);
      await skopeo('copy', '--retry-times', '0', '--src-creds', ADMIN.join(':'), '--src-tls-verify=false', `docker://${b.host}/art/app:v2`, `oci:${dir()}:pulled`);

      // an Ed25519 signature in OCI 1.1 mode (a referrer with subject), on a new image
      const v3 = await pushArtifact(ociArtifact(dir(), await plainImage(), 'v3'), 'art/app:v3');
      const p3 = simpleSigningPayload(`${b.host}/art/app`, v3.digest);
      await pushArtifact(ociArtifact(dir(), cosignSignature([{ payload: p3, signature: cosignSign(p3, release.privateKey) }], { subject: v3 }), 'sig3'), 'art/app:sig3');
      await eventually(async () => (await getManifest('app', 'v3')).status === 200);
      assert.deepEqual((await artifact('app', 'v3'))!.signed_by, ['release']);

      // a valid key's signature over another digest's payload does not sign this one
      const v4 = await pushArtifact(ociArtifact(dir(), await plainImage(), 'v4'), 'art/app:v4');
      await pushArtifact(ociArtifact(dir(), cosignSignature([{ payload, signature: cosignSign(payload, ci.privateKey) }]), 'sig'), `art/app:${cosignTag(v4.digest)}`);
      await eventually(async () => (await artifact('app', cosignTag(v4.digest)))?.subject === v4.digest);
      assert.match((await getManifest('app', 'v4')).error!.message, /none is valid/);
      assert.deepEqual((await artifact('app', 'v4'))!.signed_by, []);

      // the platform image of a signed index is served through it
      const idx = pushed.index!.digest;
      const pi = simpleSigningPayload(`${b.host}/art/app`, idx);
      assert.equal((await getManifest('app', pushed.indexChild!.digest)).status, 412);
      await pushArtifact(ociArtifact(dir(), cosignSignature([{ payload: pi, signature: cosignSign(pi, ci.privateKey) }]), 'sig'), `art/app:${cosignTag(idx)}`);
      await eventually(async () => (await getManifest('app', 'multi')).status === 200);
      assert.equal((await getManifest('app', pushed.indexChild!.digest)).status, 200);

      // removing a key unsigns what only it signed, at once
      await setProject({ signature_keys: [{ name: 'release', pem: release.pem }] });
      assert.deepEqual((await artifact('app', 'v2'))!.signed_by, []);
      // (the /v2 path reads project settings through a cache refreshed within half a second)
      await eventually(async () => /none is valid for the project's keys \(release\)/.test((await getManifest('app', 'v2')).error?.message ?? ''));
      assert.equal((await getManifest('app', 'v3')).status, 200);
      // and giving it back re-verifies the signature already pushed
      await setProject({
        signature_keys: [
          { name: 'ci', pem: ci.pem },
          { name: 'release', pem: release.pem },
        ],
      });
      await eventually(async () => (await getManifest('app', 'v2')).status === 200);
      await setProject({ require_signature: false });
      await eventually(async () => (await getManifest('app', 'v4')).status === 200);
    });

    it('reconciliation classifies rows imported before types existed', async () => {
      const { db } = b;
      await db.updateTable('artifacts').set({ type: null, subject_digest: null, artifact_type: null, config_media_type: null }).execute();
      assert.equal((await artifact('charts/web', '1.2.0'))!.type, 'image', 'an unclassified row falls back on its media type');
      const res = await b.api('/api/v1/system/reconcile', { method: 'POST', auth: ADMIN });
      assert.ok(res.status < 300, await res.text());
      await eventually(async () => (await artifact('charts/web', '1.2.0'))?.type === 'chart' && (await artifact('lolcow', 'latest'))?.type === 'sif', 20_000);
      assert.equal((await artifact('lolcow', 'latest'))!.type, 'sif');
      assert.equal((await artifact('app', pushed.sig!.digest))!.subject, pushed.image!.digest);
      assert.equal((await artifact('app', pushed.sbom!.digest))!.subject, pushed.image!.digest);
      assert.equal((await artifact('app', pushed.index!.digest))!.type, 'index');
    });
  });
}
