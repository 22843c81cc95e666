import { DOCKER_MANIFEST, IMAGE_CONFIGS, INDEX_TYPES } from './constants.js';
import { COSIGN_TAG, isDigest } from './reference.js';

/**
 * What kind of OCI artifact a manifest holds. Registries store anything (Helm charts, Apptainer SIF files, cosign
 * signatures, SBOMs attached with OCI 1.1 `subject`); Berth decides from the manifest alone what it is, so it scans,
 * gates and shows each kind for what it is. Pure: no I/O.
 */
export const ARTIFACT_TYPES = ['image', 'index', 'chart', 'sif', 'signature', 'attestation', 'sbom', 'wasm', 'artifact'] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

/** One descriptor of a manifest (config, layer, index entry, subject), as pushed: check each value before use. */
export interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  annotations?: Record<string, unknown>;
  platform?: { os?: string; architecture?: string };
}

/**
 * A manifest's JSON as a client pushed it (OCI or Docker, image manifest or index), the one shape every reader parses
 * it into. Nothing is guaranteed: any field may be missing or of another type, so readers check what they use.
 */
export interface ManifestDoc {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, unknown>;
}

export interface Classified {
  type: ArtifactType;
  /** the manifest's own `artifactType` (OCI 1.1), raw */
  artifactType: string | null;
  /** `config.mediaType`, raw */
  configMediaType: string | null;
  /** `subject.digest` (OCI 1.1), or the digest a cosign tag (`sha256-<hex>.sig|.att|.sbom`) names */
  subject: string | null;
  /** the manifest's annotations (string values only, bounded), for referrer descriptors */
  annotations: Record<string, string> | null;
}

export const COSIGN_SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
export const SIF_CONFIG = 'application/vnd.sylabs.sif.config.v1+json';
const IMAGE_LAYER = /^application\/vnd\.(?:oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(?:\+(?:gzip|zstd))?|docker\.image\.rootfs\.(?:foreign\.)?diff\.tar(?:\.gzip)?)$/;

/**
 * One media type (an `artifactType`, a config or a layer media type) → the kind it marks, or null when it says
 * nothing. Sources: Helm (helm.sh/docs/topics/registries), Apptainer/SingularityCE (`oras://` push), cosign
 * (sigstore/cosign specs/SIGNATURE_SPEC.md, ATTESTATION_SPEC.md, `application/vnd.dev.cosign.artifact.*`),
 * Notary Project (`application/vnd.cncf.notary.signature`), in-toto/DSSE, SPDX and CycloneDX, wasm-to-oci and the
 * CNCF TAG runtime wasm OCI artifact layout.
 */
export function kindOfMediaType(mt: string | null | undefined): ArtifactType | null {
  if (!mt) return null;
  const m = mt.toLowerCase();
  if (m.startsWith('application/vnd.cncf.helm.')) return 'chart';
  if (m.startsWith('application/vnd.sylabs.sif.')) return 'sif';
  if (m === 'application/vnd.dev.cosign.artifact.sig.v1+json' || m.startsWith('application/vnd.dev.cosign.simplesigning')) return 'signature';
  if (m.startsWith('application/vnd.cncf.notary.')) return 'signature';
  if (m === 'application/vnd.dev.sigstore.bundle.v0.3+json' || m.startsWith('application/vnd.dev.sigstore.bundle')) return 'attestation';
  if (m === 'application/vnd.dev.cosign.artifact.att.v1+json' || m.includes('in-toto') || m.startsWith('application/vnd.dsse.')) return 'attestation';
  if (m === 'application/vnd.dev.cosign.artifact.sbom.v1+json' || m.includes('spdx') || m.includes('cyclonedx') || m.startsWith('application/vnd.syft+json')) return 'sbom';
  if (m.includes('wasm')) return 'wasm';
  return null;
}

const str = (v: unknown, max = 255): string | null => (typeof v === 'string' && v.length > 0 ? v.slice(0, max) : null);

/**
 * Classifies a parsed manifest (image manifest or index, OCI or Docker). Order: an image config with tar layers is
 * an image (what a runtime runs, whatever the pusher labelled it), then the manifest's explicit `artifactType`, then its config media type, then its layer media types (cosign keeps an image config type on its
 * signatures, so layers must be read before concluding "image"), then a cosign tag hint, then image vs. index.
 * `tag` is a tag the manifest was pushed under, when known.
 */
export function classifyManifest(doc: unknown, opts: { mediaType?: string | null; tag?: string | null } = {}): Classified {
  const d = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const mediaType = str(d.mediaType) ?? opts.mediaType ?? null;
  const artifactType = str(d.artifactType);
  const config = d.config && typeof d.config === 'object' ? (d.config as Record<string, unknown>) : null;
  const configMediaType = config ? str(config.mediaType) : null;
  const subjectRaw = d.subject && typeof d.subject === 'object' ? str((d.subject as Record<string, unknown>).digest, 100) : null;
  const tagMatch = opts.tag ? COSIGN_TAG.exec(opts.tag) : null;
  const annotations = annotationsOf(d.annotations);
  // A cosign tag names the subject of what it tags only when that is a signature, attestation or SBOM.
  const subjectOf = (type: ArtifactType) => (subjectRaw && isDigest(subjectRaw) ? subjectRaw : tagMatch && isReferrerType(type) ? `sha256:${tagMatch[1]}` : null);
  const out = (type: ArtifactType): Classified => ({ type, artifactType, configMediaType, subject: subjectOf(type), annotations });

  const isIndex = (mediaType !== null && INDEX_TYPES.has(mediaType)) || (Array.isArray(d.manifests) && !config);
  const layers = Array.isArray(d.layers) ? d.layers.slice(0, 1000) : [];
  const layerTypes = layers.map((l) => (l && typeof l === 'object' ? str((l as Record<string, unknown>).mediaType) : null));
  const imageConfig = configMediaType === null ? mediaType === DOCKER_MANIFEST : IMAGE_CONFIGS.has(configMediaType);
  // A tar layer under an image config is what a container runtime runs: an image, whatever else the pusher wrote (artifactType, subject, a cosign
  // tag name): those fields decide nothing about the pull gate and the scanner for it.
  if (!isIndex && imageConfig && layerTypes.some((lt) => lt !== null && IMAGE_LAYER.test(lt))) return out('image');
  const byArtifactType = kindOfMediaType(artifactType);
  if (byArtifactType) return out(byArtifactType);
  if (isIndex) return out(artifactType ? 'artifact' : 'index');
  const byConfig = kindOfMediaType(configMediaType);
  if (byConfig) return out(byConfig);
  for (const lt of layerTypes) {
    const k = kindOfMediaType(lt);
    if (k) return out(k);
  }
  if (tagMatch) return out(tagMatch[2] === 'sig' ? 'signature' : tagMatch[2] === 'att' ? 'attestation' : 'sbom');
  // An artifact per the OCI 1.1 guidance carries its own artifactType (with an empty or custom config).
  if (artifactType) return out('artifact');
  if (imageConfig && layerTypes.every((lt) => lt === null || IMAGE_LAYER.test(lt))) return out('image');
  return out('artifact');
}

/** String annotations only, at most 32 of them and 8 KiB in all (they come from whoever pushed). */
function annotationsOf(v: unknown): Record<string, string> | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, string> = {};
  let budget = 8192;
  let n = 0;
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string' || n >= 32) continue;
    const cost = k.length + val.length;
    if (cost > budget) continue;
    budget -= cost;
    out[k] = val;
    n++;
  }
  return n ? out : null;
}

/** Whether a stored type string is one of ours (rows written before classification have none). */
export const isArtifactType = (v: unknown): v is ArtifactType => typeof v === 'string' && (ARTIFACT_TYPES as readonly string[]).includes(v);

/**
 * Whether Berth's scanner reads this type: images, indexes through their platform images, and Apptainer/Singularity
 * SIF files through their system partition (scanner/sif-reader.ts). The rest get a `not_applicable` report — never
 * "clean".
 */
export function isScannable(type: ArtifactType): boolean {
  return type === 'image' || type === 'index' || type === 'sif';
}

/** Types that describe another artifact (its `subject`): never run, judged with their subject, never CVE-gated. */
export function isReferrerType(type: ArtifactType): boolean {
  return type === 'signature' || type === 'attestation' || type === 'sbom';
}

/** Types that are run as containers or programs, and therefore fall under the CVE gate even without a report. */
export function isRunnable(type: ArtifactType): boolean {
  return type === 'image' || type === 'index' || type === 'sif' || type === 'wasm';
}

/** The type of a row: its stored type, else what its media type alone says (rows from before classification). */
export function typeOfRow(stored: string | null, mediaType: string): ArtifactType {
  if (isArtifactType(stored)) return stored;
  return INDEX_TYPES.has(mediaType) ? 'index' : 'image';
}

/**
 * The command that fetches an artifact of this type: `docker pull` for images, `helm pull oci://…` for charts,
 * `apptainer pull oras://…` for SIF, `oras pull` for everything else. `ref` is a tag or a digest.
 */
export function pullCommand(type: ArtifactType, host: string, repository: string, ref: string): string {
  const at = ref.includes(':') ? `@${ref}` : `:${ref}`;
  switch (type) {
    case 'image':
    case 'index':
      return `docker pull ${host}/${repository}${at}`;
    case 'chart':
      return ref.includes(':') ? `helm pull oci://${host}/${repository}${at}` : `helm pull oci://${host}/${repository} --version ${ref}`;
    case 'sif':
      return `apptainer pull oras://${host}/${repository}${at}`;
    default:
      return `oras pull ${host}/${repository}${at}`;
  }
}
