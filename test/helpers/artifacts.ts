import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tarLayer, writeLayoutIndex } from './oci.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BlobSpec {
  mediaType: string;
  data: Buffer | string;
  annotations?: Record<string, string>;
}

export interface ArtifactSpec {
  config: BlobSpec;
  layers: BlobSpec[];
  artifactType?: string;
  /** descriptor of the manifest this one refers to (OCI 1.1) */
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
  /** manifest media type (OCI image manifest unless given) */
  mediaType?: string;
}

export interface BuiltArtifact {
  /** `oci:<dir>:<tag>` for skopeo */
  ref: string;
  digest: string;
  size: number;
  mediaType: string;
  manifest: Buffer;
}

/**
 * Writes an OCI image layout holding one hand-made manifest (any config and layer media types, `artifactType`,
 * `subject`, annotations), the shapes Helm, Apptainer, cosign, notation and oras push. `skopeo copy --preserve-digests`
 * sends it byte for byte.
 */
export function ociArtifact(dir: string, spec: ArtifactSpec, tag = 'latest'): BuiltArtifact {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const desc = (s: BlobSpec) => {
    const b = Buffer.isBuffer(s.data) ? s.data : Buffer.from(s.data);
    return { mediaType: s.mediaType, digest: put(b), size: b.length, ...(s.annotations ? { annotations: s.annotations } : {}) };
  };
  const mediaType = spec.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType };
  if (spec.artifactType) doc.artifactType = spec.artifactType;
  doc.config = desc(spec.config);
  doc.layers = spec.layers.map(desc);
  if (spec.subject) doc.subject = spec.subject;
  if (spec.annotations) doc.annotations = spec.annotations;
  const manifest = Buffer.from(JSON.stringify(doc));
  const digest = put(manifest);
  writeLayoutIndex(dir, { mediaType, digest, size: manifest.length }, tag);
  return { ref: `oci:${dir}:${tag}`, digest, size: manifest.length, mediaType, manifest };
}

export const EMPTY_CONFIG: BlobSpec = { mediaType: 'application/vnd.oci.empty.v1+json', data: '{}' };

/** A Helm chart as `helm push` writes it (config JSON is Chart.yaml's fields; the layer a chart tarball). */
export const helmChart = (name: string, version: string): ArtifactSpec => ({
  config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', data: JSON.stringify({ name, version, apiVersion: 'v2', description: `${name} ${randomBytes(4).toString('hex')}` }) },
  layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', data: randomBytes(64) }],
});

/**
 * An Apptainer SIF artifact as `apptainer push oras://` writes it (config and layer media types, title), whose layer
 * is a stub, not a readable SIF: the scanner reports it `incomplete`. helpers/sif.ts builds real SIF files.
 */
export const sifImage = (): ArtifactSpec => ({
  config: { mediaType: 'application/vnd.sylabs.sif.config.v1+json', data: '{}' },
  layers: [
    {
      mediaType: 'application/vnd.sylabs.sif.layer.v1.sif',
      data: Buffer.concat([Buffer.from('#!/usr/bin/env run-singularity\nSIF_MAGIC'), randomBytes(64)]),
      annotations: { 'org.opencontainers.image.title': 'app.sif' },
    },
  ],
});

/** An SPDX SBOM attached to `subject` as `oras attach --artifact-type application/spdx+json` writes it. */
export const spdxReferrer = (subject: BuiltArtifact): ArtifactSpec => ({
  artifactType: 'application/spdx+json',
  config: EMPTY_CONFIG,
  layers: [
    {
      mediaType: 'application/spdx+json',
      data: JSON.stringify({ spdxVersion: 'SPDX-2.3', name: `sbom-${randomBytes(4).toString('hex')}` }),
      annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' },
    },
  ],
  subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  annotations: { 'org.opencontainers.image.created': '2026-11-29T12:00:00Z', 'org.example.tool': 'berth-test' },
});

/** An in-toto attestation as `cosign attest` writes it (DSSE envelope layer), for the `.att` tag. */
export const intotoAttestation = (subjectDigest: string): ArtifactSpec => ({
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', data: JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } }) },
  layers: [
    {
      mediaType: 'application/vnd.dsse.envelope.v1+json',
      data: JSON.stringify({
        payloadType: 'application/vnd.in-toto+json',
        payload: Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ digest: { sha256: subjectDigest.slice(7) } }] })).toString('base64'),
        signatures: [],
      }),
      annotations: { predicateType: 'https://slsa.dev/provenance/v0.2' },
    },
  ],
});

/** A test key pair; `pem` is the public key as a project holds it. */
export function testKey(kind: 'ec' | 'ed25519'): { privateKey: KeyObject; pem: string } {
  const { privateKey, publicKey } = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return { privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** cosign's simple-signing payload for an image digest (sigstore/cosign specs/SIGNATURE_SPEC.md). */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({ critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional: null }),
  );
}

/** Signs a payload as cosign does: ECDSA P-256 over SHA-256 (DER), or Ed25519 over the bytes; base64. */
export function cosignSign(payload: Buffer, key: KeyObject): string {
  return sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, key).toString('base64');
}

/**
 * A cosign signature manifest (tag scheme: pushed as `sha256-<hex>.sig`, an image config and one simple-signing
 * layer per signature; or OCI 1.1 mode with `subject` and `artifactType`).
 */
export function cosignSignature(signatures: { payload: Buffer; signature: string }[], opts: { subject?: BuiltArtifact } = {}): ArtifactSpec {
  return {
    ...(opts.subject ? { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: { mediaType: opts.subject.mediaType, digest: opts.subject.digest, size: opts.subject.size } } : {}),
    config: opts.subject
      ? EMPTY_CONFIG
      : { mediaType: 'application/vnd.oci.image.config.v1+json', data: JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } }) },
    layers: signatures.map((s) => ({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', data: s.payload, annotations: { 'dev.cosignproject.cosign/signature': s.signature } })),
  };
}

export const cosignTag = (digest: string, kind: 'sig' | 'att' | 'sbom' = 'sig') => `sha256-${digest.slice(7)}.${kind}`;

/** A plain runnable image (image config, one gzip tar layer), for tests that need one next to other artifacts. */
export async function plainImage(): Promise<ArtifactSpec> {
  const { gzipSync } = await import('node:zlib');
  const raw = await tarLayer({ 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'etc/berth-nonce': randomBytes(8).toString('hex') });
  return {
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', data: JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(raw)] } }) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', data: gzipSync(raw) }],
  };
}

/** Adds an image index over manifests already written into `dir` and makes it the layout's entry under `tag`. */
export function ociIndex(dir: string, children: { built: BuiltArtifact; platform?: { os: string; architecture: string } }[], tag = 'latest'): BuiltArtifact {
  const mediaType = 'application/vnd.oci.image.index.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((c) => ({ mediaType: c.built.mediaType, digest: c.built.digest, size: c.built.size, ...(c.platform ? { platform: c.platform } : {}) })),
    }),
  );
  const digest = sha(manifest);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), manifest);
  writeLayoutIndex(dir, { mediaType, digest, size: manifest.length }, tag);
  return { ref: `oci:${dir}:${tag}`, digest, size: manifest.length, mediaType, manifest };
}
