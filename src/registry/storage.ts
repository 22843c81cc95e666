import path from 'node:path';

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
