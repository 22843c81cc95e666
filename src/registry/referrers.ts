import type { IncomingMessage, ServerResponse } from 'node:http';
import { OCI_INDEX } from './constants.js';

/** One entry of a referrers list (OCI distribution spec 1.1, "Listing Referrers"). */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType: string;
  annotations?: Record<string, string>;
}

/** A position in a referrers list: after the referrer pushed at `pushedAt` (ms) with row id `id`. */
export interface ReferrerPosition {
  pushedAt: number;
  id: number;
}

/** One page of referrers and where the next starts (null on the last page). */
export interface ReferrerPage {
  descriptors: ReferrerDescriptor[];
  next: ReferrerPosition | null;
}

/**
 * One page of the referrers of `digest` in repository `name` (oldest first), optionally only those of one artifact
 * type, starting after `after`; null when Berth knows no such repository.
 */
export type ReferrerLister = (name: string, digest: string, artifactType: string | undefined, after: ReferrerPosition | null) => Promise<ReferrerPage | null>;

/** `last=<pushedAt>.<id>` as the Link header carries it; undefined when malformed. */
export function parseReferrerPosition(raw: string): ReferrerPosition | undefined {
  const m = /^(\d{1,15})\.(\d{1,15})$/.exec(raw);
  if (!m) return undefined;
  return { pushedAt: Number(m[1]), id: Number(m[2]) };
}

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
 * database. Called once the `/v2` pipeline has authenticated and authorized the request exactly as a manifest GET
 * (pull on the repository). A subject that does not exist (yet) still has a list (the spec forbids a 404 for a known
 * repository): referrers may be pushed before their subject.
 */
export async function serveReferrers(o: { name: string; digest: string; rawUrl: string; req: IncomingMessage; res: ServerResponse; list: ReferrerLister }): Promise<void> {
  o.req.resume();
  const q = o.rawUrl.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : o.rawUrl.slice(q + 1));
  const artifactType = params.get('artifactType') ?? undefined;
  if (artifactType !== undefined && (artifactType.length === 0 || artifactType.length > 255 || !/^[\x21-\x7e]+$/.test(artifactType))) {
    return error(o.res, 400, 'BAD_REQUEST', 'artifactType must be a media type');
  }
  const lastRaw = params.get('last');
  const after = lastRaw === null ? null : parseReferrerPosition(lastRaw);
  if (after === undefined) return error(o.res, 400, 'BAD_REQUEST', 'last must be the value of a Link header this registry sent');
  const page = await o.list(o.name, o.digest, artifactType, after);
  if (page === null) return error(o.res, 404, 'NAME_UNKNOWN', `repository name not known to registry: ${o.name}`);
  const out: Record<string, string | number> = { 'content-type': OCI_INDEX };
  if (artifactType !== undefined) out['oci-filters-applied'] = 'artifactType';
  // The spec's paging: a Link header to the next page, which clients (oras, cosign, containerd) follow.
  if (page.next) {
    const next = new URLSearchParams();
    if (artifactType !== undefined) next.set('artifactType', artifactType);
    next.set('last', `${page.next.pushedAt}.${page.next.id}`);
    out.link = `</v2/${o.name}/referrers/${o.digest}?${next.toString()}>; rel="next"`;
  }
  send(o.res, 200, out, referrersIndex(page.descriptors));
}
