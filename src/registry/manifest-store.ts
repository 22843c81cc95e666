import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { isDigest, SHA256_DIGEST, TAG } from './reference.js';
import { MANIFEST_TYPES, OCI_MANIFEST } from './constants.js';
import type { ManifestDoc } from './artifact-type.js';
import type { ManifestBytes } from './client.js';
import { blobDataPath, manifestRevisionLinkPath, tagCurrentLinkPath } from './storage.js';

/**
 * Manifests read straight from the managed registry's storage (distribution's filesystem layout, see storage.ts), so
 * that a manifest GET or HEAD, which Berth has already authenticated, authorized and gated itself, costs no loopback
 * hop to the registry. Only the plain case is served this way; anything else (a missing or half-written link, a
 * manifest without `mediaType`, a client whose Accept would make the registry convert or refuse, a conditional
 * request) returns null and the request goes to the registry, which keeps its own answer.
 */

/** A manifest as stored: its digest is the sha256 of `body` (checked), its media type the one it declares. */
export type StoredManifest = ManifestBytes;

/**
 * Manifests over this size go to the registry: reading, hashing and parsing one runs on Berth's event loop (about
 * 45 ms for 4 MiB), so a burst of pulls of a huge manifest would stall every other request.
 */
const MAX_MANIFEST_BYTES = 256 * 1024;

// Links are tens of bytes and manifests a few KiB, read from the page cache: synchronous reads cost a few
// microseconds, where each promise-based file operation is a round trip through libuv's thread pool.
function readLink(file: string | null): string | null {
  if (file === null) return null;
  try {
    const s = fs.readFileSync(file, 'latin1').trim();
    return isDigest(s) ? s : null; // a link being written is empty or partial: the registry decides then
  } catch {
    return null;
  }
}

/** Manifests are immutable under their digest: the last few hundred read, with their media type (≤ 16 MiB in all). */
const recent = new Map<string, StoredManifest>();
const RECENT_MAX = 512;
const RECENT_MAX_BYTES = 32 * 1024;

function readManifestBlob(storageDir: string, digest: string): StoredManifest | null {
  const hit = recent.get(digest);
  if (hit) return hit;
  let body: Buffer;
  let fd: number;
  try {
    fd = fs.openSync(blobDataPath(storageDir, digest), 'r');
  } catch {
    return null;
  }
  try {
    const { size } = fs.fstatSync(fd);
    if (size > MAX_MANIFEST_BYTES) return null;
    body = Buffer.allocUnsafe(size);
    if (fs.readSync(fd, body, 0, size, 0) !== size) return null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
  if (`sha256:${createHash('sha256').update(body).digest('hex')}` !== digest) return null;
  let doc: ManifestDoc | null;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  // distribution's storage/manifeststore.go: schema 2 without a mediaType is an OCI index when it lists manifests
  // (left to the registry here), else an OCI image manifest, which it serves as such (ocischema Payload)
  let mediaType = doc?.mediaType;
  if (mediaType === undefined && doc?.schemaVersion === 2 && doc.manifests === undefined) mediaType = OCI_MANIFEST;
  if (typeof mediaType !== 'string' || !MANIFEST_TYPES.has(mediaType)) return null;
  const m = { digest, mediaType, body };
  if (body.length <= RECENT_MAX_BYTES) {
    if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
    recent.set(digest, m);
  }
  return m;
}

/**
 * Reads `repository`'s manifest `reference` (a tag or a sha256 digest) from `storageDir` as distribution would serve
 * it: the tag's current link, the repository's revision link for that digest, then the blob, whose sha256 must match.
 * Null whenever the registry should answer instead (see the module comment); never throws for missing files.
 */
export function readStoredManifest(storageDir: string, repository: string, reference: string): StoredManifest | null {
  let digest: string | null;
  if (SHA256_DIGEST.test(reference)) digest = reference;
  else if (TAG.test(reference)) digest = readLink(tagCurrentLinkPath(storageDir, repository, reference));
  else return null;
  if (digest === null || !isDigest(digest)) return null;
  // the repository's own link, checked on every request (a deleted manifest is gone at once, cache or not); one stat:
  // distribution writes it once with exactly the digest, so a link of another size is being written or is foreign
  const revision = manifestRevisionLinkPath(storageDir, repository, digest);
  if (revision === null || fs.statSync(revision, { throwIfNoEntry: false })?.size !== digest.length) return null;
  return readManifestBlob(storageDir, digest);
}

/**
 * Whether the request's Accept headers name `mediaType` (parameters and q-values ignored, as distribution 2.8 does).
 * Distribution converts or refuses manifests a client does not accept; those requests go to the registry.
 */
export function acceptsMediaType(accept: string | string[] | undefined, mediaType: string): boolean {
  if (accept === undefined) return false;
  for (const header of Array.isArray(accept) ? accept : [accept]) {
    for (const part of header.split(',')) if (part.split(';')[0]!.trim().toLowerCase() === mediaType) return true;
  }
  return false;
}
