import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { cosignSign, cosignSignature, cosignTag, helmChart, intotoAttestation, ociArtifact, ociIndex, plainImage, sifImage, simpleSigningPayload, spdxReferrer, testKey, type BuiltArtifact } from '../helpers/artifacts.js';
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
      return res.status === 200 ? ((await res.json()) as Record<string, any>) : null;
    };
    const imported = (repo: string, ref: string) => eventually(() => artifact(repo, ref), 15_000);

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

    it('reconciliation classifies rows imported before types existed', async () => {
      const { db } = b.services;
      await db.updateTable('artifacts').set({ type: null, subject_digest: null, artifact_type: null, config_media_type: null }).execute();
      assert.equal((await artifact('charts/web', '1.2.0'))!.type, 'image', 'an unclassified row falls back on its media type');
      const res = await b.api('/api/v1/system/reconcile', { method: 'POST', auth: ADMIN });
      assert.ok(res.status < 300, await res.text());
      await eventually(async () => (await artifact('charts/web', '1.2.0'))?.type === 'chart', 20_000);
      assert.equal((await artifact('lolcow', 'latest'))!.type, 'sif');
      assert.equal((await artifact('app', pushed.sig!.digest))!.subject, pushed.image!.digest);
      assert.equal((await artifact('app', pushed.sbom!.digest))!.subject, pushed.image!.digest);
      assert.equal((await artifact('app', pushed.index!.digest))!.type, 'index');
    });
  });
}
