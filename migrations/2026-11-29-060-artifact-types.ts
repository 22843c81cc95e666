import type { Migration } from 'kysely';
import { addColumn, createIndex, type AnyDB } from './helpers.js';

/**
 * Artifact kinds (image, index, chart, sif, signature, attestation, sbom, wasm, artifact), the raw OCI 1.1 fields
 * they are decided from, the `subject` a referrer points at (indexed: the referrers API and deletion look it up),
 * its annotations (referrer descriptors carry them) and the key names a cosign signature verified with. Rows from
 * before this step keep `type` null until reconciliation re-reads their manifests.
 * Projects get cosign public keys and the signed-only switch.
 */
export const artifactTypes: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'artifacts', 'type', 'varchar(16)');
    await addColumn(db, 'artifacts', 'artifact_type', 'varchar(255)');
    await addColumn(db, 'artifacts', 'config_media_type', 'varchar(255)');
    await addColumn(db, 'artifacts', 'subject_digest', 'varchar(100)');
    await addColumn(db, 'artifacts', 'annotations', 'text');
    await addColumn(db, 'artifacts', 'signed_by', 'varchar(1024)');
    await createIndex(db, 'artifacts_subject_idx', 'artifacts', ['repository_id', 'subject_digest']);
    await addColumn(db, 'projects', 'signature_keys', 'text');
    await addColumn(db, 'projects', 'require_signature', 'integer', { notNull: true, defaultTo: 0 });
  },
};
