import type { IncomingHttpHeaders } from 'node:http';
import type { Action } from '../auth/rbac.js';
import type { Project } from '../db/repos/projects.js';
import { v2Refusal, type V2Refusal } from '../errors.js';
import type { HeldTagClaim, PolicyService } from '../services/policy-service.js';
import type { AuditService } from '../services/audit-service.js';
import type { DeletionService } from '../services/deletion-service.js';
import { principalName } from '../auth/principal.js';
import { type LivePrincipal, type RegistryAccess, V2_MAX_STALENESS_MS } from '../services/registry-access.js';
import type { VerifiedToken } from '../services/token-service.js';
import { TOKEN_SERVICE } from './constants.js';
import { isDigest } from './reference.js';

/**
 * The `/v2` route table: for every kind of registry request, the checks Berth runs, in order and by name, before the
 * registry sees it — the shape of Harbor's src/server/registry/route.go. The order is the rule:
 *
 *   authenticate → authorize (live permissions) → read-only → immutability (and the tag's claim) → quota → pull gate → forward
 *
 * `authenticate` verifies the bearer token itself (signature, iss, aud, exp, nbf); `authorize` checks that the
 * token's `access` covers the action AND that the principal may still do it now (memberships, robots, users and
 * projects as the database says, tokens older than their project or principal refused). Until both pass, a client
 * gets exactly the registry's 401 challenge and never a policy message. The pull gate judges the digest in the
 * registry's own answer (`Docker-Content-Digest`), before the first byte of the body reaches the client.
 */

/** What a `/v2` request is about, after path validation (see `parseV2Path`). */
export interface V2Request {
  method: string;
  kind: 'base' | 'catalog' | 'manifest' | 'blob' | 'upload' | 'tags' | 'referrers';
  /** full repository name, e.g. `p1/app` */
  name?: string;
  project?: string;
  reference?: string;
  clientIp: string;
}

/** A request travelling through the pipeline; checks fill in who is asking and may rewrite what is forwarded. */
export interface V2Context extends V2Request {
  /** path and query sent to the registry (a check may rewrite it: blob mounts the caller may no longer read) */
  url: string;
  authorization: string | undefined;
  token: VerifiedToken | null;
  who: LivePrincipal | null;
  projectRow: Project | null;
  /** a manifest PUT's quota reservation (the registry's answer settles it) */
  reservation?: string;
  /** a manifest PUT's claim on a new immutable tag (the registry's answer settles it) */
  tagClaim?: HeldTagClaim;
}

/** The registry's answer to a forwarded request: status and headers, body not yet read. */
export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
}

export type RequestCheck = (ctx: V2Context) => Promise<V2Refusal | null> | V2Refusal | null;
export type BodyCheck = (ctx: V2Context, body: Buffer) => Promise<V2Refusal | null>;
export type ResponseCheck = (ctx: V2Context, answer: UpstreamAnswer) => Promise<V2Refusal | null>;

/** The checks of one kind of request, by phase. */
export interface V2Route {
  /** before anything is forwarded */
  request: RequestCheck[];
  /** on the buffered body of a manifest PUT (≤ {@link MAX_MANIFEST_BODY}) */
  body: BodyCheck[];
  /** on the registry's status and headers, before the body goes to the client */
  response: ResponseCheck[];
  /**
   * Checks to run on the registry's answer to a HEAD sent before a GET is forwarded, when `applies`: a GET the gate
   * refuses then never reaches the registry, which would otherwise send a pull event for it (and count a pull that
   * did not happen). The GET's own answer is still judged by `response` (a tag may move in between).
   */
  preflight?: { applies: (ctx: V2Context) => boolean; checks: ResponseCheck[] };
}

export const MAX_MANIFEST_BODY = 4 * 1024 * 1024;

export interface V2PipelineDeps {
  tokens: { verify(token: string): VerifiedToken | null };
  access: RegistryAccess;
  policy: PolicyService;
  /** the deletion rules (immutability, index integrity) every deletion path meets */
  deletion: Pick<DeletionService, 'v2DeleteRefusal'>;
  /** the token endpoint's public URL, for challenges */
  realm: string;
  /** where refused pulls are recorded (the access log), with the reason the client was given */
  audit?: Pick<AuditService, 'record'>;
}

/** The access-log action of a pull the gate refused (resource type `artifact`, as the registry's own pulls). */
export const PULL_REFUSED = 'pull_refused';

type RepoAction = 'pull' | 'push' | 'delete';
const PERMISSION: Record<RepoAction, Action> = { pull: 'repository:pull', push: 'repository:push', delete: 'repository:delete' };

/** The actions distribution requires per method (registry/handlers/app.go appendAccessRecords). */
export function requiredActions(method: string): RepoAction[] {
  if (method === 'GET' || method === 'HEAD') return ['pull'];
  if (method === 'DELETE') return ['delete'];
  return ['pull', 'push'];
}

export function createV2Pipeline(deps: V2PipelineDeps) {
  const { access, policy } = deps;
  const publicHost = new URL(deps.realm).host;

  const challenge = (ctx: V2Context, error?: 'invalid_token' | 'insufficient_scope'): V2Refusal => {
    let value = `Bearer realm="${deps.realm}",service="${TOKEN_SERVICE}"`;
    let detail: unknown;
    if (ctx.kind === 'catalog') {
      value += ',scope="registry:catalog:*"';
      detail = [{ Type: 'registry', Class: '', Name: 'catalog', Action: '*' }];
    } else if (ctx.name) {
      const actions = requiredActions(ctx.method);
      value += `,scope="repository:${ctx.name}:${actions.join(',')}"`;
      detail = actions.map((a) => ({ Type: 'repository', Class: '', Name: ctx.name, Action: a }));
    }
    if (error) value += `,error="${error}"`;
    return v2Refusal('UNAUTHORIZED', 'authentication required', { detail, headers: { 'www-authenticate': value } });
  };

  // --- the checks, each a small function of the request context ---

  /** A bearer token Berth signed, still valid, for a principal that still exists and is older than the token. */
  const authenticate: RequestCheck = async (ctx) => {
    const auth = ctx.authorization;
    if (!auth || !/^Bearer\s+\S+$/i.test(auth)) return challenge(ctx);
    const token = deps.tokens.verify(auth.replace(/^Bearer\s+/i, ''));
    if (!token) return challenge(ctx, 'invalid_token');
    await access.refresh(V2_MAX_STALENESS_MS);
    const who = await access.principal(token.sub);
    if (!who) return challenge(ctx, 'invalid_token');
    if (who.kind === 'principal') {
      if (who.expiresAt !== null && who.expiresAt <= Date.now()) return challenge(ctx, 'invalid_token');
      if (token.iat < Math.floor(who.createdAt / 1000)) return challenge(ctx, 'invalid_token');
    }
    ctx.token = token;
    ctx.who = who;
    return null;
  };

  const tokenCovers = (token: VerifiedToken, type: string, name: string, actions: string[]): boolean => {
    const granted = new Set<string>();
    for (const a of token.access) {
      if (a.type !== type) continue;
      // a scope may carry Berth's own host as a prefix (`127.0.0.1:8080/p/app`); no other prefix names this repository
      if (a.name !== name && a.name !== `${publicHost}/${name}`) continue;
      for (const x of a.actions) granted.add(x);
    }
    return actions.every((x) => granted.has(x) || granted.has('*'));
  };

  /** May this principal, today, do what the method needs on this repository (or the catalog)? */
  const authorize: RequestCheck = async (ctx) => {
    const token = ctx.token!;
    const who = ctx.who!;
    if (ctx.kind === 'catalog') {
      if (!tokenCovers(token, 'registry', 'catalog', ['*'])) return challenge(ctx, 'insufficient_scope');
      if (who.kind === 'internal' || (who.principal.kind === 'user' && who.principal.isAdmin)) return null;
      return challenge(ctx, 'insufficient_scope');
    }
    const actions = requiredActions(ctx.method);
    if (!tokenCovers(token, 'repository', ctx.name!, actions)) return challenge(ctx, 'insufficient_scope');
    if (who.kind === 'internal') return null;
    const project = await access.project(ctx.project!);
    // A project deleted and re-created under the same name is a different project: older tokens do not reach it.
    if (!project || token.iat < Math.floor(project.createdAt / 1000)) return challenge(ctx, 'insufficient_scope');
    for (const a of actions) if (!(await access.can(who.principal, PERMISSION[a], project))) return challenge(ctx, 'insufficient_scope');
    ctx.projectRow = project;
    return null;
  };

  /**
   * A blob mount (`POST …/uploads/?mount=<digest>&from=<repo>`) reads another repository: the caller must still be
   * allowed to pull there, else the mount parameters are dropped and the registry starts a plain upload (what it does
   * for a mount it cannot serve), so no blob leaks from a repository the caller lost access to.
   */
  const mountSource: RequestCheck = async (ctx) => {
    const q = ctx.url.indexOf('?');
    if (q === -1) return null;
    const params = new URLSearchParams(ctx.url.slice(q + 1));
    const from = params.get('from');
    if (!params.has('mount') && from === null) return null;
    let allowed = false;
    if (from && ctx.token && tokenCovers(ctx.token, 'repository', from, ['pull'])) {
      if (ctx.who?.kind === 'internal') allowed = true;
      else if (ctx.who?.kind === 'principal') {
        const project = await access.project(from.split('/')[0]!);
        allowed = !!project && ctx.token.iat >= Math.floor(project.createdAt / 1000) && (await access.can(ctx.who.principal, 'repository:pull', project));
      }
    }
    if (!allowed) {
      params.delete('mount');
      params.delete('from');
      const rest = params.toString();
      ctx.url = ctx.url.slice(0, q) + (rest ? `?${rest}` : '');
    }
    return null;
  };

  const isInternal = (ctx: V2Context) => ctx.who?.kind === 'internal';

  /** Writes wait while garbage collection runs (a retryable 503). */
  const readOnly: RequestCheck = async (ctx) => (isInternal(ctx) ? null : policy.readOnlyRefusal());

  /** An existing immutable tag cannot be pushed over. */
  const immutability: RequestCheck = async (ctx) => (isInternal(ctx) ? null : policy.immutableTagRefusal(ctx.projectRow!, ctx.name!, ctx.reference!));

  /** A new immutable tag is claimed for this manifest's digest on every replica before the PUT is forwarded. */
  const immutableClaim: BodyCheck = async (ctx, body) => {
    if (isInternal(ctx)) return null;
    const decided = await policy.claimImmutableTag(ctx.projectRow!, ctx.name!, ctx.reference!, body);
    if (decided.claim) ctx.tagClaim = decided.claim;
    return decided.refusal;
  };

  /** A PUT the registry refused (or a later check refused) stored nothing: its tag claim ends at once. */
  const claimSettle: ResponseCheck = async (ctx, answer) => {
    if (ctx.tagClaim) await policy.tagClaimSettled(ctx.tagClaim, answer.status === 201);
    return null;
  };

  /** Manifest deletes obey the same rules as every other delete path (immutability, index integrity). */
  const deletable: RequestCheck = async (ctx) => (isInternal(ctx) ? null : deps.deletion.v2DeleteRefusal(ctx.name!, ctx.reference!));

  /** Blobs are freed by garbage collection only: deleting one under a stored manifest would break the image. */
  const noBlobDelete: RequestCheck = () => v2Refusal('UNSUPPORTED', 'blobs are removed by garbage collection only: delete the manifest instead');

  const quota: BodyCheck = async (ctx, body) => {
    if (isInternal(ctx)) return null;
    const decided = await policy.reserveQuota(ctx.projectRow!, body, { repository: ctx.name!, reference: ctx.reference! });
    if (decided.reservation) ctx.reservation = decided.reservation;
    // refused here, the PUT is never forwarded: the tag it claimed is free again
    if (decided.refusal && ctx.tagClaim) await policy.tagClaimSettled(ctx.tagClaim, false);
    return decided.refusal;
  };

  /** A push the quota reserved before its import stops counting when the registry did not store it. */
  const quotaSettle: ResponseCheck = async (ctx, answer) => {
    if (ctx.reservation) await policy.quotaSettled(ctx.reservation, answer.status === 201);
    return null;
  };

  /**
   * The vulnerable-pull (and signature) gate, on the digest the registry is about to serve. Every refusal is an
   * access-log row carrying the words the client got, so an admin sees who was stopped and why without asking them.
   */
  const pullGate: ResponseCheck = async (ctx, answer) => {
    if (isInternal(ctx) || answer.status !== 200) return null;
    const header = answer.headers['docker-content-digest'];
    const digest = typeof header === 'string' ? header : null;
    const refused = await policy.pullDecision(ctx.projectRow!, ctx.name!, digest, ctx.method);
    if (refused && deps.audit) {
      const who = ctx.who?.kind === 'principal' ? principalName(ctx.who.principal) : 'anonymous';
      const resource = digest && isDigest(digest) ? `${ctx.name}@${digest}` : `${ctx.name}:${ctx.reference}`;
      await deps.audit.record({ name: who, ip: ctx.clientIp }, PULL_REFUSED, 'artifact', resource, {
        reference: ctx.reference,
        method: ctx.method,
        code: refused.code,
        reason: refused.message,
      });
    }
    return refused;
  };

  const route = (request: RequestCheck[], extra: Partial<Omit<V2Route, 'request'>> = {}): V2Route => ({
    request,
    body: extra.body ?? [],
    response: extra.response ?? [],
    preflight: extra.preflight,
  });

  /** Whether the pull gate can refuse this request at all (a project with a gate on, a caller who is not core). */
  const gated = (ctx: V2Context) => !isInternal(ctx) && !!ctx.projectRow && (ctx.projectRow.preventVulnerable || ctx.projectRow.requireSignature);

  /** Every /v2 endpoint and method Berth forwards, with its checks in order. Anything else is a 405. */
  const table: Record<V2Request['kind'], Partial<Record<string, V2Route>>> = {
    base: { GET: route([authenticate]), HEAD: route([authenticate]) },
    catalog: { GET: route([authenticate, authorize]) },
    tags: { GET: route([authenticate, authorize]) },
    referrers: { GET: route([authenticate, authorize]) },
    manifest: {
      GET: route([authenticate, authorize], { response: [pullGate], preflight: { applies: gated, checks: [pullGate] } }),
      HEAD: route([authenticate, authorize], { response: [pullGate] }),
      PUT: route([authenticate, authorize, readOnly, immutability], { body: [immutableClaim, quota], response: [claimSettle, quotaSettle] }),
      DELETE: route([authenticate, authorize, readOnly, deletable]),
    },
    blob: {
      GET: route([authenticate, authorize]),
      HEAD: route([authenticate, authorize]),
      DELETE: route([authenticate, authorize, noBlobDelete]),
    },
    upload: {
      POST: route([authenticate, authorize, readOnly, mountSource]),
      PATCH: route([authenticate, authorize, readOnly]),
      PUT: route([authenticate, authorize, readOnly]),
      GET: route([authenticate, authorize]),
      DELETE: route([authenticate, authorize]),
    },
  };

  return {
    /** The checks for this request, or a 405 for a method the endpoint does not have. */
    route(req: V2Request): V2Route | V2Refusal {
      return table[req.kind][req.method] ?? v2Refusal('UNSUPPORTED', `${req.method} is not supported on this endpoint`);
    },
  };
}

export type V2Pipeline = ReturnType<typeof createV2Pipeline>;
