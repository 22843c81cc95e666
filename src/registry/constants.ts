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

/** The manifest media types (OCI image spec, Docker image manifest v2 schema 2), each named once. */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);
export const IMAGE_TYPES: ReadonlySet<string> = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
/** The four manifest media types Berth reads, and the four distribution 2.8 negotiates (registry/handlers/manifests.go). */
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([...INDEX_TYPES, ...IMAGE_TYPES]);
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');

/** Image config media types: manifests with another config are artifacts (charts, signatures...), not images. */
export const IMAGE_CONFIGS: ReadonlySet<string> = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
