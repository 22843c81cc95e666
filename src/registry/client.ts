import { Readable } from 'node:stream';
import type { Access } from '../auth/scopes.js';
import { MANIFEST_ACCEPT } from './constants.js';

export type TokenMinter = (access: Access[]) => string;

/** A manifest's bytes with its digest and the media type it is served as (from the registry's answer or from storage). */
export interface ManifestBytes {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const MAX_MANIFEST = 4 * 1024 * 1024;

/**
 * Core's own client for the registry API, authenticating with tokens it mints for exactly the access each call
 * needs. `baseUrl()` is read per call: a managed registry may come back on another port after a restart.
 */
export class RegistryClient {
  constructor(
    private readonly baseUrl: () => string,
    private readonly mint: TokenMinter,
  ) {}

  /** The registry's base URL as of now (a managed registry may have moved to another port). */
  url(): string {
    return this.baseUrl();
  }

  private async call(path: string, init: RequestInit & { access: Access[]; timeoutMs?: number }): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.mint(init.access)}`);
    try {
      return await fetch(`${this.baseUrl()}${path}`, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) });
    } catch (err) {
      throw new RegistryError(`registry unreachable: ${(err as Error).message}`);
    }
  }

  private pull = (repo: string) => [{ type: 'repository', name: repo, actions: ['pull'] }];

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(`${this.baseUrl()}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status === 200 || res.status === 401;
    } catch {
      return false;
    }
  }

  /** The manifest by tag or digest, or null when the registry does not have it. */
  async manifest(repo: string, ref: string): Promise<ManifestBytes | null> {
    const res = await this.call(`/v2/${repo}/manifests/${ref}`, { access: this.pull(repo), headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      await res.arrayBuffer();
      return null;
    }
    if (!res.ok) throw new RegistryError(`GET manifest ${repo}:${ref}: HTTP ${res.status}`, res.status);
    const len = Number(res.headers.get('content-length') ?? 0);
    if (len > MAX_MANIFEST) throw new RegistryError(`manifest ${repo}@${ref} is too large (${len} bytes)`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_MANIFEST) throw new RegistryError(`manifest ${repo}@${ref} is too large`);
    return { digest: res.headers.get('docker-content-digest') ?? '', mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(), body };
  }

  /** The digest a tag or digest currently resolves to, or null. */
  async resolve(repo: string, ref: string): Promise<string | null> {
    const res = await this.call(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', access: this.pull(repo), headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) return null;
    if (!res.ok) throw new RegistryError(`HEAD manifest ${repo}:${ref}: HTTP ${res.status}`, res.status);
    return res.headers.get('docker-content-digest');
  }

  /** A blob's real size in the registry's storage (HEAD `Content-Length`), or null when the repository has no such blob. */
  async blobSize(repo: string, digest: string): Promise<number | null> {
    const res = await this.call(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD', access: this.pull(repo) });
    if (res.status === 404) return null;
    if (!res.ok) throw new RegistryError(`HEAD blob ${repo}@${digest}: HTTP ${res.status}`, res.status);
    const n = Number(res.headers.get('content-length'));
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  }

  /**
   * Real sizes of several blobs of a repository (8 HEADs at a time): digest → bytes, or null for a blob the
   * repository does not hold. Quota and usage count these, never the sizes a manifest declares.
   */
  async blobSizes(repo: string, digests: string[]): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    const queue = [...new Set(digests)];
    const worker = async () => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) out.set(d, await this.blobSize(repo, d));
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
    return out;
  }

  /** A small blob (image config), bounded; null when missing. */
  async smallBlob(repo: string, digest: string, maxBytes: number): Promise<Buffer | null> {
    const res = await this.call(`/v2/${repo}/blobs/${digest}`, { access: this.pull(repo) });
    if (res.status === 404) {
      await res.arrayBuffer();
      return null;
    }
    if (!res.ok) throw new RegistryError(`GET blob ${repo}@${digest}: HTTP ${res.status}`, res.status);
    if (Number(res.headers.get('content-length') ?? 0) > maxBytes) {
      await res.body?.cancel();
      return null;
    }
    const buf = Buffer.from(await res.arrayBuffer());
    return buf.length > maxBytes ? null : buf;
  }

  /** A blob as a stream (layers): the caller consumes or destroys it. */
  async blobStream(repo: string, digest: string, signal?: AbortSignal): Promise<Readable> {
    const headers = new Headers({ authorization: `Bearer ${this.mint(this.pull(repo))}` });
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl()}/v2/${repo}/blobs/${digest}`, { headers, redirect: 'follow', signal });
    } catch (err) {
      throw new RegistryError(`registry unreachable: ${(err as Error).message}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new RegistryError(`GET blob ${repo}@${digest}: HTTP ${res.status}`, res.status);
    }
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream, { highWaterMark: 1024 * 1024 });
  }

  /** One page of the catalog. */
  async catalog(last: string | undefined, n = 500): Promise<{ repositories: string[]; more: boolean }> {
    const qs = new URLSearchParams({ n: String(n) });
    if (last) qs.set('last', last);
    const res = await this.call(`/v2/_catalog?${qs}`, { access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] });
    if (!res.ok) throw new RegistryError(`GET _catalog: HTTP ${res.status}`, res.status);
    const body = (await res.json()) as { repositories?: unknown };
    const repositories = Array.isArray(body.repositories) ? body.repositories.filter((r): r is string => typeof r === 'string') : [];
    return { repositories, more: /rel="next"/.test(res.headers.get('link') ?? '') };
  }

  /**
   * Whether the registry knows the repository (its tag list answers, one entry asked for): true on 200, false on 404
   * (`NAME_UNKNOWN`: no tag directory, e.g. only untagged manifests, or nothing at all). Throws `RegistryError` on
   * anything else.
   */
  async repositoryListed(repo: string): Promise<boolean> {
    const res = await this.call(`/v2/${repo}/tags/list?n=1`, { access: this.pull(repo) });
    await res.arrayBuffer();
    if (res.status === 404) return false;
    if (!res.ok) throw new RegistryError(`GET tags ${repo}: HTTP ${res.status}`, res.status);
    return true;
  }

  /** Every tag of a repository (following pagination), or null when the repository is unknown. */
  async tags(repo: string): Promise<string[] | null> {
    const out: string[] = [];
    let last: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const qs = new URLSearchParams({ n: '1000' });
      if (last) qs.set('last', last);
      const res = await this.call(`/v2/${repo}/tags/list?${qs}`, { access: this.pull(repo) });
      if (res.status === 404) {
        await res.arrayBuffer();
        return page === 0 ? null : out;
      }
      if (!res.ok) throw new RegistryError(`GET tags ${repo}: HTTP ${res.status}`, res.status);
      const body = (await res.json()) as { tags?: unknown };
      const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
      out.push(...tags);
      if (!/rel="next"/.test(res.headers.get('link') ?? '') || tags.length === 0) break;
      last = tags[tags.length - 1];
    }
    return out;
  }

  /** Deletes a manifest by digest; false when it was already gone. */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const res = await this.call(`/v2/${repo}/manifests/${digest}`, { method: 'DELETE', access: [{ type: 'repository', name: repo, actions: ['delete'] }] });
    await res.arrayBuffer();
    if (res.status === 404) return false;
    if (res.status !== 202) throw new RegistryError(`DELETE manifest ${repo}@${digest}: HTTP ${res.status}`, res.status);
    return true;
  }
}
