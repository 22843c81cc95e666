import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';

/** One tar entry: file content, a whiteout of a lower path, an opaque marker, a link, or a raw name (path tricks). */
export type Entry = string | Buffer | { symlink: string } | { hardlink: string } | { dir: true } | { file: string | Buffer; mode: number };

export type Layer = Record<string, Entry>;

/** A layer as tar bytes (uncompressed): names are written exactly as given, so hostile names can be tested. */
export async function tarLayer(layer: Layer): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const [name, e] of Object.entries(layer)) {
    if (typeof e === 'string' || Buffer.isBuffer(e)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, typeof e === 'string' ? Buffer.from(e) : e);
    else if ('symlink' in e) pack.entry({ name, type: 'symlink', linkname: e.symlink, mtime: new Date(0) });
    else if ('hardlink' in e) pack.entry({ name, type: 'link', linkname: e.hardlink, mtime: new Date(0) });
    else if ('file' in e) pack.entry({ name, mode: e.mode, mtime: new Date(0) }, typeof e.file === 'string' ? Buffer.from(e.file) : e.file);
    else pack.entry({ name, type: 'directory', mode: 0o755, mtime: new Date(0) });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Makes `dir` an OCI image layout (`oci-layout`, `index.json`) whose index names one manifest or image index,
 * `desc`, under `tag` (the `org.opencontainers.image.ref.name` skopeo's `oci:<dir>:<tag>` looks up).
 */
export function writeLayoutIndex(dir: string, desc: { mediaType: string; digest: string; size: number }, tag: string): void {
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
}

/**
 * Writes an OCI image layout with these layers (gzip), for `skopeo copy oci:<dir>:<tag> …`. A random file in the
 * first layer makes every image's blobs unique (skopeo would otherwise mount blobs it has seen).
 */
export interface OciImageOptions {
  /** a layer's blob and media type from its tar bytes (default: gzip) */
  compress?: (raw: Buffer, index: number) => { data: Buffer; mediaType: string };
  /** the config descriptor's media type (default: the OCI image config) */
  configMediaType?: string;
}

export async function ociImage(dir: string, layers: Layer[], tag = 'latest', config: Record<string, unknown> = {}, opts: OciImageOptions = {}): Promise<string> {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const descs = [];
  const diffIds = [];
  for (const [i, l] of layers.entries()) {
    const raw = await tarLayer(i === 0 ? { ...l, 'etc/berth-test-nonce': randomBytes(8).toString('hex') } : l);
    const blob = opts.compress ? opts.compress(raw, i) : { data: zlib.gzipSync(raw), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
    diffIds.push(sha(raw));
    descs.push({ mediaType: blob.mediaType, digest: put(blob.data), size: blob.data.length });
  }
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: new Date().toISOString(), config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, ...config }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: opts.configMediaType ?? 'application/vnd.oci.image.config.v1+json', digest: put(cfg), size: cfg.length },
      layers: descs,
    }),
  );
  const md = put(manifest);
  writeLayoutIndex(dir, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }, tag);
  return `oci:${dir}:${tag}`;
}

/**
 * Writes an OCI layout holding an image index (tagged `tag`) over one small image per platform, for
 * `skopeo copy --all oci:<dir>:<tag> …` (children are pushed by digest, the index by tag). Returns the reference and
 * the digests of the index and its children.
 */
export async function ociIndex(dir: string, platforms: { os: string; architecture: string; layers?: Layer[] }[], tag = 'latest'): Promise<{ ref: string; index: string; children: string[] }> {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const manifests = [];
  for (const [i, p] of platforms.entries()) {
    const sub = `${dir}-platform-${i}`;
    await ociImage(sub, p.layers ?? [{ [`etc/platform-${i}`]: `${p.os}/${p.architecture}` }], 'x', { os: p.os, architecture: p.architecture });
    for (const f of fs.readdirSync(path.join(sub, 'blobs', 'sha256'))) fs.copyFileSync(path.join(sub, 'blobs', 'sha256', f), path.join(dir, 'blobs', 'sha256', f));
    const m = JSON.parse(fs.readFileSync(path.join(sub, 'index.json'), 'utf8')).manifests[0];
    manifests.push({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: { os: p.os, architecture: p.architecture } });
    fs.rmSync(sub, { recursive: true, force: true });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  const id = sha(index);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', id.slice(7)), index);
  writeLayoutIndex(dir, { mediaType: 'application/vnd.oci.image.index.v1+json', digest: id, size: index.length }, tag);
  return { ref: `oci:${dir}:${tag}`, index: id, children: manifests.map((m) => m.digest) };
}
