/** Names the registry and the token service must agree on (written into the registry's config). */
export const TOKEN_ISSUER = 'berth-token-issuer';
export const TOKEN_SERVICE = 'berth-registry';
/** `sub` of tokens core mints for itself (scanner, reconciliation, notification apply). */
export const CORE_SUBJECT = 'berth-core';
/** `sub` of the pull tokens core hands an external scanner adapter. */
export const SCANNER_SUBJECT = 'berth-scanner';
/** Token subjects that are core itself, never a user or robot: no username may take one. */
export const INTERNAL_SUBJECTS: ReadonlySet<string> = new Set([CORE_SUBJECT, SCANNER_SUBJECT]);

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
export const IMAGE_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
export const MANIFEST_TYPES = new Set([...INDEX_TYPES, ...IMAGE_TYPES]);
