import fs from 'node:fs';
import path from 'node:path';
import { isDigest } from './reference.js';

/**
 * Where distribution's filesystem driver keeps things under its root directory (registry/storage/paths.go), written
 * once: blobs by digest, repositories with their tag links. Only Berth's own managed registry (or a storage
 * directory shared with it) is read this way.
 */

/** `<root>/docker/registry/v2` */
export const registryRoot = (storageDir: string): string => path.join(storageDir, 'docker', 'registry', 'v2');

/** Directory holding every sha256 blob: `<root>/docker/registry/v2/blobs/sha256`. */
export const blobsDir = (storageDir: string): string => path.join(registryRoot(storageDir), 'blobs', 'sha256');

/** A blob's data file, for a `sha256:<hex>` digest. */
export function blobDataPath(storageDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(blobsDir(storageDir), hex.slice(0, 2), hex, 'data');
}

/** `<root>/docker/registry/v2/repositories` */
export const repositoriesDir = (storageDir: string): string => path.join(registryRoot(storageDir), 'repositories');

/** The directory of one tag's links; null when the result would leave the repositories directory. */
export function tagDir(storageDir: string, repository: string, tag: string): string | null {
  const root = repositoriesDir(storageDir);
  const dir = path.join(root, ...repository.split('/'), '_manifests', 'tags', tag);
  return dir.startsWith(root + path.sep) ? dir : null;
}

/** A tag's current link (`…/_manifests/tags/<tag>/current/link`, holding the digest); null outside the root. */
export function tagCurrentLinkPath(storageDir: string, repository: string, tag: string): string | null {
  const dir = tagDir(storageDir, repository, tag);
  return dir === null ? null : path.join(dir, 'current', 'link');
}

/**
 * The link that makes a manifest part of a repository (`…/_manifests/revisions/sha256/<hex>/link`); distribution
 * serves a manifest only through a repository holding this link. Null outside the root.
 */
export function manifestRevisionLinkPath(storageDir: string, repository: string, digest: string): string | null {
  const root = repositoriesDir(storageDir);
  const file = path.join(root, ...repository.split('/'), '_manifests', 'revisions', 'sha256', digest.slice('sha256:'.length), 'link');
  return file.startsWith(root + path.sep) ? file : null;
}

/** What a repository's directory says it holds: tag → digest, and every manifest revision with its link's mtime. */
export interface StoredRepository {
  tags: Map<string, string>;
  /** digest → when its revision link was written (epoch ms): the push time */
  revisions: Map<string, number>;
}

/**
 * Reads a repository's tag links (`_manifests/tags/<tag>/current/link`) and manifest revisions
 * (`_manifests/revisions/sha256/<hex>/link`) straight from storage: what the registry holds the moment its PUT answered,
 * before any notification. A deleted manifest or tag leaves its directory without a link: not counted. Null when the
 * name would leave the repositories directory; empty maps for a repository the registry does not have.
 */
export function readStoredRepository(storageDir: string, repository: string): StoredRepository | null {
  const root = repositoriesDir(storageDir);
  const dir = path.join(root, ...repository.split('/'), '_manifests');
  if (!dir.startsWith(root + path.sep)) return null;
  const out: StoredRepository = { tags: new Map(), revisions: new Map() };
  const list = (d: string) => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  };
  const link = (file: string): { digest: string; mtime: number } | null => {
    try {
      const digest = fs.readFileSync(file, 'utf8').trim();
      return isDigest(digest) ? { digest, mtime: fs.statSync(file).mtimeMs } : null;
    } catch {
      return null;
    }
  };
  for (const tag of list(path.join(dir, 'tags'))) {
    const l = link(path.join(dir, 'tags', tag, 'current', 'link'));
    if (l) out.tags.set(tag, l.digest);
  }
  for (const hex of list(path.join(dir, 'revisions', 'sha256'))) {
    if (!isDigest(`sha256:${hex}`)) continue;
    const l = link(path.join(dir, 'revisions', 'sha256', hex, 'link'));
    if (l && l.digest === `sha256:${hex}`) out.revisions.set(l.digest, Math.floor(l.mtime));
  }
  return out;
}

/** Every blob file in the registry's storage, with its size. */
export function listBlobs(storageDir: string): Map<string, number> {
  const out = new Map<string, number>();
  const root = blobsDir(storageDir);
  let prefixes: string[] = [];
  try {
    prefixes = fs.readdirSync(root);
  } catch {
    return out;
  }
  for (const p of prefixes) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(path.join(root, p));
    } catch {
      continue;
    }
    for (const hex of entries) {
      try {
        out.set(`sha256:${hex}`, fs.statSync(path.join(root, p, hex, 'data')).size);
      } catch {
        /* a half-written or half-deleted blob: not counted */
      }
    }
  }
  return out;
}
