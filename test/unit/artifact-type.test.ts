import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyManifest, isReferrerType, isRunnable, isScannable, pullCommand, typeOfRow, type ArtifactType } from '../../src/registry/artifact-type.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c = 'a', extra: Record<string, unknown> = {}) => ({ mediaType, digest: D(c), size: 10, ...extra });
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

/** Manifests as the tools write them (shapes taken from each tool's documentation and its pushes). */
const cases: { name: string; doc: Record<string, unknown>; tag?: string; type: ArtifactType; subject?: string | null; artifactType?: string | null; config?: string | null }[] = [
  {
    name: 'OCI image (umoci, buildah)',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc('application/vnd.oci.image.config.v1+json'), layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip', 'b')] },
    type: 'image',
    config: 'application/vnd.oci.image.config.v1+json',
  },
  {
    name: 'OCI image with zstd and uncompressed layers',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      config: desc('application/vnd.oci.image.config.v1+json'),
      layers: [desc('application/vnd.oci.image.layer.v1.tar+zstd', 'b'), desc('application/vnd.oci.image.layer.v1.tar', 'c')],
    },
    type: 'image',
  },
  {
    name: 'Docker v2 image (docker push)',
    doc: {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: desc('application/vnd.docker.container.image.v1+json'),
      layers: [desc('application/vnd.docker.image.rootfs.diff.tar.gzip', 'b'), desc('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'c')],
    },
    type: 'image',
  },
  {
    name: 'OCI image without mediaType field (older clients)',
    doc: { schemaVersion: 2, config: desc('application/vnd.oci.image.config.v1+json'), layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip')] },
    type: 'image',
  },
  {
    name: 'OCI index (multi-arch)',
    doc: { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [desc(OCI, 'a', { platform: { os: 'linux', architecture: 'amd64' } })] },
    type: 'index',
  },
  {
    name: 'Docker manifest list',
    doc: { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [desc('application/vnd.docker.distribution.manifest.v2+json')] },
    type: 'index',
  },
  {
    name: 'Helm chart (helm push)',
    doc: {
      schemaVersion: 2,
      config: desc('application/vnd.cncf.helm.config.v1+json'),
      layers: [desc('application/vnd.cncf.helm.chart.content.v1.tar+gzip', 'b'), desc('application/vnd.cncf.helm.chart.provenance.v1.prov', 'c')],
    },
    type: 'chart',
    config: 'application/vnd.cncf.helm.config.v1+json',
  },
  {
    name: 'Apptainer/Singularity SIF (apptainer push oras://)',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      config: desc('application/vnd.sylabs.sif.config.v1+json'),
      layers: [desc('application/vnd.sylabs.sif.layer.v1.sif', 'b', { annotations: { 'org.opencontainers.image.title': 'app.sif' } })],
    },
    type: 'sif',
  },
  {
    name: 'SIF layer behind a generic config (oras push)',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc(EMPTY), layers: [desc('application/vnd.sylabs.sif.layer.v1.sif')] },
    type: 'sif',
  },
  {
    name: 'cosign signature, tag scheme (image config type, simple-signing layer)',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      config: desc('application/vnd.oci.image.config.v1+json'),
      layers: [desc('application/vnd.dev.cosign.simplesigning.v1+json', 'b', { annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ…' } })],
    },
    tag: `sha256-${'e'.repeat(64)}.sig`,
    type: 'signature',
    subject: D('e'),
  },
  {
    name: 'cosign signature, OCI 1.1 referrers mode',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: desc(EMPTY),
      layers: [desc('application/vnd.dev.cosign.simplesigning.v1+json')],
      subject: desc(OCI, 'f'),
    },
    type: 'signature',
    subject: D('f'),
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  },
  {
    name: 'Notary Project signature (notation sign)',
    doc: { schemaVersion: 2, mediaType: OCI, artifactType: 'application/vnd.cncf.notary.signature', config: desc(EMPTY), layers: [desc('application/jose+json')], subject: desc(OCI, 'f') },
    type: 'signature',
    subject: D('f'),
  },
  {
    name: 'cosign attestation (.att tag, DSSE envelope layer)',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      config: desc('application/vnd.oci.image.config.v1+json'),
      layers: [desc('application/vnd.dsse.envelope.v1+json', 'b', { annotations: { predicateType: 'https://slsa.dev/provenance/v0.2' } })],
    },
    tag: `sha256-${'e'.repeat(64)}.att`,
    type: 'attestation',
    subject: D('e'),
  },
  {
    name: 'in-toto attestation manifest (docker buildx, inside an index)',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      config: desc('application/vnd.oci.image.config.v1+json'),
      layers: [desc('application/vnd.in-toto+json', 'b', { annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } })],
    },
    type: 'attestation',
  },
  {
    name: 'sigstore bundle referrer',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: desc(EMPTY),
      layers: [desc('application/vnd.dev.sigstore.bundle.v0.3+json')],
      subject: desc(OCI, 'f'),
    },
    type: 'attestation',
  },
  {
    name: 'SPDX SBOM referrer (oras attach --artifact-type)',
    doc: {
      schemaVersion: 2,
      mediaType: OCI,
      artifactType: 'application/spdx+json',
      config: desc(EMPTY),
      layers: [desc('application/spdx+json')],
      subject: desc(OCI, 'f'),
      annotations: { 'org.opencontainers.image.created': '2026-11-29T00:00:00Z' },
    },
    type: 'sbom',
    subject: D('f'),
    artifactType: 'application/spdx+json',
  },
  {
    name: 'CycloneDX SBOM, artifact type in the config (OCI 1.1 rc style)',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc('application/vnd.cyclonedx+json'), layers: [desc('application/vnd.cyclonedx+json')], subject: desc(OCI, 'f') },
    type: 'sbom',
  },
  {
    name: 'cosign attach sbom (.sbom tag, text/spdx layer)',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc('application/vnd.oci.image.config.v1+json'), layers: [desc('text/spdx')] },
    tag: `sha256-${'e'.repeat(64)}.sbom`,
    type: 'sbom',
    subject: D('e'),
  },
  {
    name: 'wasm module (wasm-to-oci)',
    doc: { schemaVersion: 2, config: desc('application/vnd.wasm.config.v1+json'), layers: [desc('application/vnd.wasm.content.layer.v1+wasm')] },
    type: 'wasm',
  },
  {
    name: 'wasm layer behind an empty config',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc(EMPTY), layers: [desc('application/vnd.module.wasm.content.layer.v1+wasm')] },
    type: 'wasm',
  },
  {
    name: 'generic artifact with its own artifactType (oras push --artifact-type)',
    doc: { schemaVersion: 2, mediaType: OCI, artifactType: 'application/vnd.example.thing', config: desc(EMPTY), layers: [desc('application/octet-stream')] },
    type: 'artifact',
    artifactType: 'application/vnd.example.thing',
  },
  {
    name: 'unknown config type (oras push, older)',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc('application/vnd.unknown.config.v1+json'), layers: [desc('application/vnd.oci.image.layer.v1.tar')] },
    type: 'artifact',
  },
  {
    name: 'image config with non-tar layers is not an image',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc('application/vnd.oci.image.config.v1+json'), layers: [desc('application/x-tar-but-not-really')] },
    type: 'artifact',
  },
  {
    name: 'ordinary image pushed under a sha256-<hex> tag without a known suffix stays an image',
    doc: { schemaVersion: 2, mediaType: OCI, config: desc('application/vnd.oci.image.config.v1+json'), layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip')] },
    tag: `sha256-${'e'.repeat(64)}`,
    type: 'image',
    subject: null,
  },
  { name: 'garbage', doc: { hello: 'world' }, type: 'artifact' },
];

describe('artifact classification', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = classifyManifest(c.doc, { tag: c.tag });
      assert.equal(r.type, c.type);
      if (c.subject !== undefined) assert.equal(r.subject, c.subject);
      if (c.artifactType !== undefined) assert.equal(r.artifactType, c.artifactType);
      if (c.config !== undefined) assert.equal(r.configMediaType, c.config);
    });
  }

  it('keeps raw artifactType, config media type and string annotations', () => {
    const r = classifyManifest({ schemaVersion: 2, artifactType: 'application/spdx+json', config: desc(EMPTY), layers: [], annotations: { a: 'b', n: 1, big: 'x'.repeat(9000) } });
    assert.equal(r.artifactType, 'application/spdx+json');
    assert.equal(r.configMediaType, EMPTY);
    assert.deepEqual(r.annotations, { a: 'b' });
  });

  it('ignores a malformed subject', () => {
    for (const subject of [{ digest: 'sha256:xyz' }, 'sha256:abc', { digest: 42 }, null]) {
      assert.equal(classifyManifest({ schemaVersion: 2, mediaType: OCI, subject, config: desc(EMPTY), layers: [] }).subject, null);
    }
  });

  it('is total on hostile input', () => {
    for (const doc of [null, undefined, 42, 'x', [], { layers: 'no' }, { layers: [null, 1, 'x'] }, { config: 'x' }, { manifests: [] }]) {
      const r = classifyManifest(doc);
      assert.ok(r.type);
    }
  });
});

describe('type rules', () => {
  it('images, indexes and SIF files are scanned; the rest are not_applicable', () => {
    assert.deepEqual((['image', 'index', 'chart', 'sif', 'signature', 'attestation', 'sbom', 'wasm', 'artifact'] as const).filter(isScannable), ['image', 'index', 'sif']);
  });
  it('signatures, attestations and SBOMs are referrers; images, indexes, SIF and wasm are runnable', () => {
    assert.deepEqual((['image', 'index', 'chart', 'sif', 'signature', 'attestation', 'sbom', 'wasm', 'artifact'] as const).filter(isReferrerType), ['signature', 'attestation', 'sbom']);
    assert.deepEqual((['image', 'index', 'chart', 'sif', 'signature', 'attestation', 'sbom', 'wasm', 'artifact'] as const).filter(isRunnable), ['image', 'index', 'sif', 'wasm']);
  });
  it('rows classified before this existed fall back on their media type', () => {
    assert.equal(typeOfRow(null, 'application/vnd.oci.image.index.v1+json'), 'index');
    assert.equal(typeOfRow(null, OCI), 'image');
    assert.equal(typeOfRow('chart', OCI), 'chart');
    assert.equal(typeOfRow('bogus', OCI), 'image');
  });
  it('pull commands per type', () => {
    const h = 'reg.example:443';
    assert.equal(pullCommand('image', h, 'p/app', 'v1'), 'docker pull reg.example:443/p/app:v1');
    assert.equal(pullCommand('index', h, 'p/app', D('a')), `docker pull reg.example:443/p/app@${D('a')}`);
    assert.equal(pullCommand('chart', h, 'p/charts/web', '1.2.0'), 'helm pull oci://reg.example:443/p/charts/web --version 1.2.0');
    assert.equal(pullCommand('chart', h, 'p/web', D('a')), `helm pull oci://reg.example:443/p/web@${D('a')}`);
    assert.equal(pullCommand('sif', h, 'p/lolcow', 'latest'), 'apptainer pull oras://reg.example:443/p/lolcow:latest');
    assert.equal(pullCommand('sbom', h, 'p/app', D('b')), `oras pull reg.example:443/p/app@${D('b')}`);
    assert.equal(pullCommand('artifact', h, 'p/x', 't'), 'oras pull reg.example:443/p/x:t');
  });
});
