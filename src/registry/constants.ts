/** Names the registry and the token service must agree on (written into the registry's config). */
export const TOKEN_ISSUER = 'berth-token-issuer';
export const TOKEN_SERVICE = 'berth-registry';
/**
 * `sub` of tokens core mints for itself (scanner, reconciliation, notification apply), and of the pull tokens it hands
 * to external scanner adapters. Both hold a `$`, which the username grammar refuses and robot names (`robot$…`) never
 * start with, so no account can act under an internal identity or hide its pushes and pulls from the access log.
 */
export const CORE_SUBJECT = 'berth$core';
export const SCANNER_SUBJECT = 'berth$scanner';
/** Names no account may take: the internal subjects of earlier versions, the access log's name for nobody, and the audit log's name for the CLI operator. */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set(['berth-core', 'berth-scanner', 'anonymous', 'cli']);
/** Token subjects that are core itself, never a user or robot. */
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
