import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import { randomUUID } from 'node:crypto';
import { v2Refusal, type V2ErrorCode, type V2Refusal } from '../errors.js';
import type { Logger } from '../log.js';
import { serveReferrers, type ReferrerLister } from './referrers.js';
import { acceptsMediaType, type StoredManifest } from './manifest-store.js';
import { MAX_MANIFEST_BODY, type V2Context, type V2Pipeline, type V2Request } from './v2-pipeline.js';
import { ANY_DIGEST as DIGEST, PATH_COMPONENT as COMPONENT, SHA256_DIGEST as SHA256, TAG, UPLOAD_ID } from './reference.js';

export type { V2Request } from './v2-pipeline.js';

/** A refusal made while parsing, before the pipeline: sent in the registry's error shape. */
export type ProxyRefusal = V2Refusal;

/**
 * Parses and validates a `/v2` path from the raw request URL. Anything the distribution grammar does not allow,
 * percent-encoding included (no legitimate client encodes these paths), is refused here with a clear 4xx.
 */
export function parseV2Path(method: string, rawUrl: string): Omit<V2Request, 'clientIp'> | ProxyRefusal {
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  if (path.length > 2048) return refusal(414, 'URI_TOO_LONG', 'request path too long');
  if (path === '/v2' || path === '/v2/') return { method, kind: 'base' };
  if (path === '/v2/_catalog') return { method, kind: 'catalog' };
  if (/[%\\]|\/\/|\/\.{1,2}(?:\/|$)/.test(path) || !path.startsWith('/v2/')) {
    return refusal(400, 'NAME_INVALID', 'invalid repository path: encoded characters, empty or dot segments are not allowed');
  }
  const parts = path.slice(4).split('/');
  const n = parts.length;
  let kind: V2Request['kind'];
  let reference: string | undefined;
  let nameEnd = n - 2;
  if (n >= 4 && parts[n - 3] === 'blobs' && parts[n - 2] === 'uploads') {
    // <name>/blobs/uploads/ (start) or <name>/blobs/uploads/<id> (continue, finish, cancel)
    kind = 'upload';
    reference = parts[n - 1]!;
    nameEnd = n - 3;
    if (reference !== '' && !UPLOAD_ID.test(reference)) return refusal(400, 'BLOB_UPLOAD_INVALID', 'invalid upload id');
  } else if (n >= 3 && parts[n - 2] === 'manifests') {
    kind = 'manifest';
    reference = parts[n - 1]!;
    if (!TAG.test(reference) && !DIGEST.test(reference)) return refusal(400, 'TAG_INVALID', 'invalid tag or digest');
  } else if (n >= 3 && parts[n - 2] === 'blobs') {
    kind = 'blob';
    reference = parts[n - 1]!;
    if (!DIGEST.test(reference)) return refusal(400, 'DIGEST_INVALID', 'invalid digest');
  } else if (n >= 3 && parts[n - 2] === 'tags' && parts[n - 1] === 'list') {
    kind = 'tags';
  } else if (n >= 3 && parts[n - 2] === 'referrers') {
    kind = 'referrers';
    reference = parts[n - 1]!;
    if (!DIGEST.test(reference)) return refusal(400, 'DIGEST_INVALID', 'invalid digest');
  } else {
    return refusal(404, 'NOT_FOUND', 'unknown registry endpoint');
  }
  const nameParts = parts.slice(0, nameEnd);
  const name = nameParts.join('/');
  if (nameParts.length < 2 || name.length > 255 || !nameParts.every((p) => COMPONENT.test(p))) {
    return refusal(404, 'NAME_UNKNOWN', 'repository names are <project>/<repository>, lowercase');
  }
  return { method, kind, name, project: nameParts[0]!, reference };
}

const refusal = (_status: number, code: V2ErrorCode, message: string): ProxyRefusal => v2Refusal(code, message);

/**
 * The status line's reason phrase for a 5xx refusal: the standard phrase, then the message. The docker engine reads an
 * error body only for 4xx answers; for a 5xx it prints just the status line ("received unexpected HTTP status: 503
 * Service Unavailable"), so a retryable refusal (read-only during garbage collection) would not say why. RFC 9112
 * allows any visible ASCII there: anything else becomes `?`, and it is cut at 300 characters.
 */
export function reasonPhrase(status: number, message: string): string {
  const text = `${http.STATUS_CODES[status] ?? 'Error'}: ${message.replaceAll('…', '...')}`.replace(/[^\x20-\x7e]/g, '?');
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function sendError(res: ServerResponse, r: ProxyRefusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code: r.code, message: r.message, ...(r.detail === undefined ? {} : { detail: r.detail }) }] });
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0',
    ...r.headers,
  };
  if (r.status >= 500) res.writeHead(r.status, reasonPhrase(r.status, r.message), headers);
  else res.writeHead(r.status, headers);
  res.end(body);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade', 'http2-settings']);

export interface RegistryProxyOptions {
  /** the registry's base URL (read per request: a managed registry can move to another port on restart) */
  upstream: () => string;
  externalUrl: string;
  trustProxy: boolean;
  log: Logger;
  /** the checks per request kind, in order (src/registry/v2-pipeline.ts) */
  pipeline: V2Pipeline;
  /**
   * Where the registry keeps a blob's bytes, when core shares its storage (managed mode), for the direct read path
   * of blob GETs; null otherwise.
   */
  blobFile?: (digest: string) => string | null;
  /** writes in flight through this process, for garbage collection to wait on */
  writes?: WriteTracker;
  /** answers the OCI 1.1 referrers API (which the registry lacks) from Berth's database */
  referrers?: ReferrerLister;
  /** byte counters for metrics */
  onBytes?: (direction: 'in' | 'out', n: number) => void;
  /**
   * Reads a manifest from the registry's storage (managed mode, src/registry/manifest-store.ts), so that manifest
   * GETs and HEADs Berth has authenticated, authorized and gated skip the registry; null: the registry answers.
   */
  manifestStore?: (repository: string, reference: string) => StoredManifest | null;
  /**
   * A manifest GET answered from storage: the registry saw nothing, so no pull event comes from it; the caller
   * records the pull as the registry's event would (access log, pull count, webhooks).
   */
  onManifestServed?: (pull: ServedManifest) => void;
}

/** A manifest GET served from storage, with what a registry pull event carries. */
export interface ServedManifest {
  repository: string;
  /** the tag asked for, if the reference was one */
  tag?: string;
  manifest: StoredManifest;
  /** the token's subject ('' for anonymous) */
  actor: string;
  clientIp: string;
  userAgent: string;
  at: number;
}

/** Responses Berth answered from storage itself: no registry event will follow them (stall detection). */
export const ANSWERED_FROM_STORAGE = new WeakSet<ServerResponse>();

/** Counts write requests (POST, PUT, PATCH, DELETE) in flight and when the last one ended. */
export interface WriteTracker {
  inflight: number;
  lastEndedAt: number;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Blobs at least this big are read from storage by core after the registry has authorized a HEAD for them. */
const DIRECT_READ_MIN = 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

/**
 * The `/v2` reverse proxy, on plain node:http streams so blobs flow through without buffering or web-stream
 * conversion. Status codes, headers and error bodies are the registry's; only the token realm and absolute
 * `Location`s are rewritten to the public URL.
 */
export function createRegistryProxy(opts: RegistryProxyOptions) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });
  // 1 MiB socket buffers towards the registry too (uploads stream through them).
  const create = agent.createConnection.bind(agent) as (o: object, cb?: unknown) => net.Socket;
  (agent as unknown as { createConnection: typeof create }).createConnection = (o, cb) => create({ ...o, readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 }, cb);
  const ext = new URL(opts.externalUrl);
  const realm = `${opts.externalUrl}/service/token`;

  /**
   * Blob GETs, the bulk of all bytes, skip one loopback hop and a JS copy per 64 KiB chunk: the registry answers a
   * HEAD with the client's own credentials (so it still decides who may read what, and that the blob is linked into
   * this repository), then core streams the file in 1 MiB reads. Measured in bench/proxy-throughput.ts. Anything
   * unusual (no file, a size mismatch, a non-200 HEAD) falls back to plain proxying, which keeps the registry's answer.
   */
  async function serveBlobDirect(upstream: URL, path: string, headers: http.OutgoingHttpHeaders, digest: string, res: ServerResponse): Promise<boolean> {
    const file = opts.blobFile!(digest);
    if (!file) return false;
    let fd: fs.promises.FileHandle;
    try {
      fd = await fs.promises.open(file, 'r');
    } catch {
      return false;
    }
    try {
      const { size } = await fd.stat();
      if (size < DIRECT_READ_MIN) {
        await fd.close();
        return false;
      }
      const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const r = http.request({ host: upstream.hostname, port: upstream.port, method: 'HEAD', path, headers, agent });
        r.on('response', resolve);
        r.on('error', reject);
        r.end();
      }).catch(() => null);
      if (head !== null && size === Number(head.headers['content-length']) && head.statusCode === 200) return streamFile(head, fd, size, res);
      head?.resume();
      await fd.close();
      return false;
    } catch {
      await fd.close().catch(() => undefined);
      return false;
    }
  }

  function streamFile(head: http.IncomingMessage, fd: fs.promises.FileHandle, size: number, res: ServerResponse): boolean {
    head.resume();
    opts.log.debug({ size }, 'blob served from storage');
    const out: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(head.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
    out['content-length'] = size;
    res.writeHead(200, out);
    void copyFile(fd, size, res);
    return true;
  }

  /** Reads into two reused 4 MiB buffers, one filling while the other drains to the socket. */
  async function copyFile(fd: fs.promises.FileHandle, size: number, res: ServerResponse): Promise<void> {
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let pos = 0;
    let i = 0;
    let pending: Promise<void> = Promise.resolve();
    try {
      while (pos < size && !res.destroyed) {
        const buf = bufs[i++ % 2]!;
        const { bytesRead } = await fd.read(buf, 0, Math.min(CHUNK, size - pos), pos);
        if (bytesRead === 0) throw new Error('blob shrank while being read');
        pos += bytesRead;
        opts.onBytes?.('out', bytesRead);
        await pending; // the other buffer has been handed to the kernel before this one is queued
        pending = new Promise<void>((resolve, reject) => res.write(buf.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve())));
      }
      await pending;
      res.end();
    } catch {
      res.destroy();
    } finally {
      await fd.close();
    }
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const parsed = parseV2Path(method, req.url ?? '/');
    if ('status' in parsed) {
      req.resume();
      return sendError(res, parsed);
    }
    const peer = req.socket.remoteAddress ?? 'unknown';
    const xff = opts.trustProxy ? (req.headers['x-forwarded-for'] as string | undefined)?.split(',').pop()?.trim() : undefined;
    const info: V2Context = { ...parsed, clientIp: xff || peer, url: req.url!, authorization: req.headers.authorization, token: null, who: null, projectRow: null };
    const route = opts.pipeline.route(info);
    if ('status' in route) {
      req.resume();
      return sendError(res, route);
    }
    const fail = (err: unknown): ProxyRefusal => {
      const id = randomUUID();
      opts.log.error({ err, reqId: id }, 'v2 check failed');
      return refusal(500, 'UNKNOWN', `internal error (request id ${id})`);
    };
    for (const check of route.request) {
      let refused: ProxyRefusal | null;
      try {
        refused = await check(info);
      } catch (err) {
        refused = fail(err);
      }
      if (refused) {
        req.resume();
        return sendError(res, refused);
      }
    }

    let upstream: URL;
    try {
      upstream = new URL(opts.upstream());
    } catch {
      return sendError(res, refusal(503, 'UNAVAILABLE', 'registry is not available'));
    }
    let body: Buffer | null = null;
    if (route.body.length) {
      body = await readBody(req, MAX_MANIFEST_BODY);
      if (!body) return sendError(res, refusal(413, 'TOO_LARGE', `manifest larger than ${MAX_MANIFEST_BODY} bytes`));
      for (const check of route.body) {
        const refused = await check(info, body).catch(fail);
        if (refused) return sendError(res, refused);
      }
    }
    const writes = WRITE_METHODS.has(method) ? opts.writes : undefined;
    if (writes) {
      writes.inflight++;
      res.on('close', () => {
        writes.inflight--;
        writes.lastEndedAt = Date.now();
      });
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    // The registry logs and reports the client, and builds URLs for the public host.
    headers['x-forwarded-for'] = info.clientIp;
    headers['x-forwarded-proto'] = ext.protocol.slice(0, -1);
    headers['x-forwarded-host'] = ext.host;
    headers.host = ext.host;

    if (info.kind === 'referrers' && opts.referrers) {
      // The pipeline has authenticated and authorized it as a pull of the repository; the registry lacks this API.
      return serveReferrers({ name: info.name!, digest: info.reference!, rawUrl: info.url, req, res, list: opts.referrers });
    }
    if ((method === 'GET' || method === 'HEAD') && info.kind === 'manifest' && opts.manifestStore && req.headers['if-none-match'] === undefined) {
      const m = opts.manifestStore(info.name!, info.reference!);
      if (m && acceptsMediaType(req.headers.accept, m.mediaType)) {
        // The same checks on the same digest as for the registry's answer; the bytes served are the bytes judged.
        for (const check of route.response) {
          const refused = await check(info, { status: 200, headers: { 'docker-content-digest': m.digest, 'content-type': m.mediaType } }).catch(fail);
          if (refused) return sendError(res, refused);
        }
        ANSWERED_FROM_STORAGE.add(res);
        // distribution 2.8's headers for a manifest (registry/handlers/manifests.go GetManifest, plus the configured ones)
        res.writeHead(200, {
          'content-type': m.mediaType,
          'content-length': m.body.length,
          'docker-content-digest': m.digest,
          'docker-distribution-api-version': 'registry/2.0',
          etag: `"${m.digest}"`,
          'x-content-type-options': 'nosniff',
        });
        if (method === 'HEAD') return void res.end();
        opts.onBytes?.('out', m.body.length);
        res.end(m.body);
        const tag = info.reference === m.digest ? undefined : info.reference;
        opts.onManifestServed?.({
          repository: info.name!,
          tag,
          manifest: m,
          actor: info.token?.sub ?? '',
          clientIp: info.clientIp,
          userAgent: String(req.headers['user-agent'] ?? ''),
          at: Date.now(),
        });
        return;
      }
    }
    if (method === 'GET' && info.kind === 'blob' && !req.headers.range && opts.blobFile && SHA256.test(info.reference!)) {
      if (await serveBlobDirect(upstream, info.url, headers, info.reference!, res)) return;
    }

    let forwardPath = info.url;
    if (method === 'GET' && route.preflight?.applies(info)) {
      const head = await new Promise<IncomingMessage | null>((resolve) => {
        const r = http.request({ host: upstream.hostname, port: upstream.port, method: 'HEAD', path: info.url, headers, agent });
        r.on('response', (answer) => {
          answer.resume();
          resolve(answer);
        });
        r.on('error', () => resolve(null));
        r.end();
      });
      // No verdict without the registry's answer: a GET sent now could be served (and counted) for a manifest the
      // gate would refuse, e.g. while a tag is being rewritten (the registry answers 500 then). Retryable.
      if (head === null || (head.statusCode ?? 500) >= 500) return sendError(res, refusal(503, 'UNAVAILABLE', 'the registry could not resolve this manifest just now: retry'));
      // the registry's own answer to the GET, in its shape: it knows no such manifest (a GET now would race a push)
      if (head.statusCode === 404) return sendError(res, refusal(404, 'MANIFEST_UNKNOWN', 'manifest unknown'));
      if (head.statusCode === 200) {
        for (const check of route.preflight.checks) {
          const refused = await check(info, { status: 200, headers: head.headers }).catch(fail);
          if (refused) return sendError(res, refused);
        }
        // A tag may move before the GET: ask for the digest just judged, so the registry serves (and reports as
        // pulled) exactly that — unless it negotiated a type the client did not name (a conversion, kept by tag).
        const digest = head.headers['docker-content-digest'];
        const type = String(head.headers['content-type'] ?? '');
        if (typeof digest === 'string' && SHA256.test(digest) && digest !== info.reference && acceptsMediaType(req.headers.accept, type)) {
          const q = info.url.indexOf('?');
          forwardPath = `/v2/${info.name}/manifests/${digest}${q === -1 ? '' : info.url.slice(q)}`;
        }
      }
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, method, path: forwardPath, headers, agent });
    up.on('response', (ur) => {
      if (!route.response.length) return answer(ur);
      // Decide on what the registry is about to serve; nothing of its body has reached the client yet.
      void (async () => {
        for (const check of route.response) {
          const refused = await check(info, { status: ur.statusCode ?? 502, headers: ur.headers }).catch(fail);
          if (refused) {
            ur.destroy();
            return sendError(res, refused);
          }
        }
        answer(ur);
      })();
    });
    const answer = (ur: IncomingMessage) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      const wa = ur.headers['www-authenticate'];
      if (typeof wa === 'string') out['www-authenticate'] = wa.replace(/realm="[^"]*"/, `realm="${realm}"`);
      const loc = ur.headers.location;
      if (typeof loc === 'string' && loc.startsWith(upstream.origin)) out.location = opts.externalUrl + loc.slice(upstream.origin.length);
      res.writeHead(ur.statusCode ?? 502, out);
      if (opts.onBytes) ur.on('data', (c: Buffer) => opts.onBytes!('out', c.length));
      ur.pipe(res);
      ur.on('error', () => res.destroy());
    };
    up.on('error', (err) => {
      opts.log.warn({ err: err.message, path: info.name }, 'registry request failed');
      if (!res.headersSent) sendError(res, refusal(503, 'UNAVAILABLE', 'registry is not available, retry later'));
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    if (body) {
      // The body is whole now: it goes with its length, never re-chunked (both headers at once are invalid).
      up.removeHeader('transfer-encoding');
      up.setHeader('content-length', body.length);
      opts.onBytes?.('in', body.length);
      up.end(body);
    } else {
      if (opts.onBytes) req.on('data', (c: Buffer) => opts.onBytes!('in', c.length));
      req.pipe(up);
    }
  };
}

/** The whole request body, or null past the limit. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
