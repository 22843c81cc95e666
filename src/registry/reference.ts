/**
 * The grammars of the distribution spec (docs/spec/api.md, reference/regexp.go), written once for all of Berth:
 * repository path components, full repository names, tags, digests, upload ids, and advisory ids (OSV's id
 * grammar). Every check of a name, tag or digest uses these.
 */

/** One path component: `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`. */
export const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** A full repository name Berth serves: `<project>/<path>[/<path>…]`. */
export const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
/** Repository names are at most this long (distribution: 255 characters). */
export const MAX_REPOSITORY_NAME = 255;
/** A tag: `[\w][\w.-]{0,127}`. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Any digest the grammar allows (`algorithm:encoded`), for parsing requests. */
export const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,256}$/;
/** A sha256 digest, the only algorithm Berth stores. */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** A blob upload session id as distribution issues them (a UUID; bounded). */
export const UPLOAD_ID = /^[A-Za-z0-9_=-]{1,256}$/;
/** An advisory or CVE id (OSV ids: `CVE-2024-1234`, `GHSA-…`, `DSA-5555-1`, `ALPINE-CVE-…`). */
export const ADVISORY_ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/;

export const isTag = (s: string): boolean => TAG.test(s);
export const isDigest = (s: string): boolean => SHA256_DIGEST.test(s);
export const isRepositoryName = (s: string): boolean => s.length <= MAX_REPOSITORY_NAME && REPOSITORY_NAME.test(s);
