import { createHash } from 'node:crypto';
import type { RegistryClient } from '../registry/client.js';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { findProjectByName, type Project } from '../db/repos/projects.js';
import type { Logger } from '../log.js';
import { isDigest } from '../registry/reference.js';
import type { ManifestDoc } from '../registry/artifact-type.js';
import { parsePublicKey, SIGNATURE_ANNOTATION, SIMPLESIGNING, verifySimpleSigning, type SignatureKey } from '../registry/cosign.js';

/** A simple-signing payload is a few hundred bytes; anything much larger is not one. */
const MAX_PAYLOAD = 64 * 1024;
const MAX_LAYERS = 32;

/**
 * Verifies cosign signatures when they are pushed (and again when a project's keys change) and records, on each
 * signature artifact, the names of the project keys it is valid for. An artifact is signed by the union of its
 * signatures' names (`signersOf`), so deleting a signature unsigns its subject with no further bookkeeping.
 */
export class SignatureService {
  constructor(
    private readonly db: DB,
    private readonly registry: RegistryClient,
    private readonly log: Logger,
  ) {}

  /** The project's keys, parsed; a key that no longer parses is skipped (it was validated when stored). */
  keysOf(project: Project): SignatureKey[] {
    const out: SignatureKey[] = [];
    for (const k of project.signatureKeys) {
      try {
        const p = parsePublicKey(k.pem);
        out.push({ name: k.name, key: p.key, algorithm: p.algorithm });
      } catch {
        /* skipped */
      }
    }
    return out;
  }

  /**
   * Verifies one signature artifact of `repository` against its project's keys: each simple-signing layer's payload
   * must name the artifact's subject and carry a signature valid for a key. Records the key names (none: empty).
   */
  async verifyArtifact(repository: string, artifactId: number): Promise<string[]> {
    const project = await findProjectByName(this.db, repository.split('/')[0]!);
    const row = await art.findArtifactById(this.db, artifactId);
    if (!project || !row || row.type !== 'signature' || !row.subject) return [];
    const keys = this.keysOf(project);
    const names = new Set<string>();
    if (keys.length) {
      const m = await this.registry.manifest(repository, row.digest);
      let doc: ManifestDoc = {};
      try {
        doc = m ? JSON.parse(m.body.toString('utf8')) : {};
      } catch {
        /* not JSON: no signature */
      }
      for (const layer of (Array.isArray(doc.layers) ? doc.layers : []).slice(0, MAX_LAYERS)) {
        const sig = layer?.annotations?.[SIGNATURE_ANNOTATION];
        if (layer?.mediaType !== SIMPLESIGNING || typeof sig !== 'string' || typeof layer.digest !== 'string' || !isDigest(layer.digest)) continue;
        const payload = await this.registry.smallBlob(repository, layer.digest, MAX_PAYLOAD);
        if (!payload || `sha256:${createHash('sha256').update(payload).digest('hex')}` !== layer.digest) continue;
        for (const n of verifySimpleSigning(payload, sig, row.subject, keys)) names.add(n);
      }
    }
    const list = [...names].sort();
    await art.setSignedBy(this.db, artifactId, list);
    if (list.length) this.log.info({ repository, signature: row.digest, subject: row.subject, keys: list }, 'signature verified');
    return list;
  }

  /** Re-judges every signature of a project (its keys changed). */
  async reverifyProject(project: Project): Promise<number> {
    const sigs = await art.projectSignatures(this.db, project.id);
    for (const s of sigs) {
      try {
        await this.verifyArtifact(s.repository, s.id);
      } catch (err) {
        // A signature that cannot be read now counts as unverified, never as still valid under old keys.
        await art.setSignedBy(this.db, s.id, []);
        this.log.warn({ err, repository: s.repository, digest: s.digest }, 'could not verify a signature');
      }
    }
    return sigs.length;
  }
}
