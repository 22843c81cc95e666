import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { MANIFEST_ACCEPT } from './constants.js';

/** One entry of a referrers list (OCI distribution spec 1.1, "Listing Referrers"). */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType: string;
  annotations?: Record<string, string>;
}

/**
 * The referrers of `digest` in repository `name`, optionally only those of one artifact type; null when Berth knows
 * no such repository.
 */
export type ReferrerLister = (name: string, digest: string, artifactType: string | undefined) => Promise<ReferrerDescriptor[] | null>;

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** The referrers response body: an OCI image index whose `manifests` are the descriptors. */
export function referrersIndex(descriptors: ReferrerDescriptor[]): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors });
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body: string): void {
  res.writeHead(status, { 'docker-distribution-api-version': 'registry/2.0', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

const error = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  send(res, status, { 'content-type': 'application/json; charset=utf-8', ...headers }, JSON.stringify({ errors: [{ code, message }] }));

/**
 * `GET /v2/<name>/referrers/<digest>[?artifactType=]`, which distribution 2.8 does not have, answered from Berth's
 * database. Access follows a manifest GET exactly: the registry is asked for a HEAD of the subject manifest with the
 * client's own credentials, so an anonymous or unauthorized client gets the registry's own 401 challenge (scope
 * `repository:<name>:pull`) or 403, and only a client that may pull the repository sees its referrers. A subject that
 * does not exist (yet) still has a list (the spec forbids 404 for a known repository): referrers may be pushed first.
 */
export async function serveReferrers(o: {
  upstream: URL;
  agent: http.Agent;
  /** the request headers as they would be forwarded (client credentials included) */
  headers: http.OutgoingHttpHeaders;
  name: string;
  digest: string;
  method: string;
  rawUrl: string;
  realm: string;
  req: IncomingMessage;
  res: ServerResponse;
  list: ReferrerLister;
}): Promise<void> {
  o.req.resume();
  if (o.method !== 'GET' && o.method !== 'HEAD') return error(o.res, 405, 'UNSUPPORTED', 'the referrers API answers GET only');
  const q = o.rawUrl.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : o.rawUrl.slice(q + 1));
  const artifactType = params.get('artifactType') ?? undefined;
  if (artifactType !== undefined && (artifactType.length === 0 || artifactType.length > 255 || !/^[\x21-\x7e]+$/.test(artifactType))) {
    return error(o.res, 400, 'BAD_REQUEST', 'artifactType must be a media type');
  }
  const headers: http.OutgoingHttpHeaders = { ...o.headers, accept: MANIFEST_ACCEPT };
  delete headers['content-length'];
  delete headers['transfer-encoding'];
  let status: number;
  let challenge: string | undefined;
  try {
    const head = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = http.request({ host: o.upstream.hostname, port: o.upstream.port, method: 'HEAD', path: `/v2/${o.name}/manifests/${o.digest}`, headers, agent: o.agent });
      r.on('response', resolve);
      r.on('error', reject);
      r.end();
    });
    head.resume();
    status = head.statusCode ?? 502;
    const wa = head.headers['www-authenticate'];
    challenge = typeof wa === 'string' ? wa.replace(/realm="[^"]*"/, `realm="${o.realm}"`) : undefined;
  } catch {
    return error(o.res, 503, 'UNAVAILABLE', 'registry is not available, retry later');
  }
  if (status === 401) return error(o.res, 401, 'UNAUTHORIZED', 'authentication required', challenge ? { 'www-authenticate': challenge } : {});
  if (status === 403) return error(o.res, 403, 'DENIED', 'requested access to the resource is denied');
  if (status !== 200 && status !== 404) return error(o.res, 503, 'UNAVAILABLE', `registry answered ${status}, retry later`);
  // The registry has the subject but Berth has not imported the repository yet: nothing refers to it yet.
  const descriptors = (await o.list(o.name, o.digest, artifactType)) ?? (status === 200 ? [] : null);
  if (descriptors === null) return error(o.res, 404, 'NAME_UNKNOWN', `repository name not known to registry: ${o.name}`);
  const body = referrersIndex(descriptors);
  const out: Record<string, string | number> = { 'content-type': OCI_INDEX };
  if (artifactType !== undefined) out['oci-filters-applied'] = 'artifactType';
  if (o.method === 'HEAD') {
    o.res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-length': Buffer.byteLength(body), ...out });
    o.res.end();
    return;
  }
  send(o.res, 200, out, body);
}
