/**
 * The grammars of the distribution spec (docs/spec/api.md, reference/regexp.go), written once for all of Berth:
 * repository path components, full repository names, tags, digests, upload ids, and advisory ids (OSV's id
 * grammar). Every check of a name, tag or digest uses these.
 */

/** One path component: `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`. */
export const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/**
 * A project name: one path component with single separators only (`[a-z0-9]+(?:[._-][a-z0-9]+)*`, Harbor's rule), so
 * it is always a valid first component of a repository name.
 */
export const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** A full repository name Berth serves: `<project>/<path>[/<path>…]`. */
export const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
/** Repository names are at most this long (distribution: 255 characters). */
export const MAX_REPOSITORY_NAME = 255;
/** A tag: `[\w][\w.-]{0,127}`. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Any digest the grammar allows (`algorithm:encoded`), for parsing requests. */
export const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,256}$/;
/** The encoded part of a sha256 digest (lowercase hex), as a pattern source for grammars built on it. */
export const SHA256_HEX = '[a-f0-9]{64}';
/** A sha256 digest, the only algorithm Berth stores. */
export const SHA256_DIGEST = new RegExp(`^sha256:${SHA256_HEX}$`);
/** cosign's tag scheme: the signature, attestation or SBOM of `sha256:<hex>` is tagged `sha256-<hex>.<kind>`. */
export const COSIGN_TAG = new RegExp(`^sha256-(${SHA256_HEX})\\.(sig|att|sbom)$`);
/** A blob upload session id as distribution issues them (a UUID; bounded). */
export const UPLOAD_ID = /^[A-Za-z0-9_=-]{1,256}$/;
/** An advisory or CVE id (OSV ids: `CVE-2024-1234`, `GHSA-…`, `DSA-5555-1`, `ALPINE-CVE-…`). */
export const ADVISORY_ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/;

/** A CVE id (`CVE-2024-1234`), any case; the findings index stores them uppercased. */
export const CVE_ID = /^CVE-\d{4}-\d+$/i;

export const isTag = (s: string): boolean => TAG.test(s);
export const isDigest = (s: string): boolean => SHA256_DIGEST.test(s);
export const isRepositoryName = (s: string): boolean => s.length <= MAX_REPOSITORY_NAME && REPOSITORY_NAME.test(s);
