import { createPublicKey, randomFillSync, sign, verify, type KeyObject } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { Action } from '../auth/rbac.js';
import { type Access, REPO_ACTIONS, type RepoAction, type Scope } from '../auth/scopes.js';
import type { TokenKeys } from '../auth/token-keys.js';
import { CORE_SUBJECT, TOKEN_ISSUER, TOKEN_SERVICE } from '../registry/constants.js';
import { type RegistryAccess, V2_MAX_STALENESS_MS } from './registry-access.js';

/** The claims of a token Berth signed, once verified. Times are epoch seconds. */
export interface VerifiedToken {
  sub: string;
  iat: number;
  exp: number;
  access: Access[];
}

/** Clock leeway on `exp`/`nbf`, as distribution allows (registry/auth/token: 60 s). */
const LEEWAY_S = 60;
const MAX_TOKEN_LENGTH = 64 * 1024;

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

const ACTION_PERMISSION: Record<Exclude<RepoAction, '*'>, Action> = { pull: 'repository:pull', push: 'repository:push', delete: 'repository:delete' };

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** 16 random bytes per token id, cut from a 4 KiB pool refilled from the CSPRNG (one syscall per 256 ids, as Node's randomUUID does). */
const JTI_BYTES = 16;
const jtiPool = Buffer.alloc(256 * JTI_BYTES);
let jtiOffset = jtiPool.length;
function tokenId(): string {
  if (jtiOffset === jtiPool.length) {
    randomFillSync(jtiPool);
    jtiOffset = 0;
  }
  jtiOffset += JTI_BYTES;
  return jtiPool.toString('base64url', jtiOffset - JTI_BYTES, jtiOffset);
}

/**
 * Issues registry bearer tokens: granted = requested ∩ permitted, per scope; denied scopes come back with empty
 * actions. Signing is a raw ES256 (IEEE P1363) over a precomputed header: ~26k/s on one core, so the token path
 * stays cheap (jose's async SignJWT measured ~5k/s).
 */
export class TokenService {
  private readonly header: string;
  private readonly publicKey: KeyObject;
  /** verified tokens by their text: clients reuse one token for every request of a pull */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(
    private readonly access: RegistryAccess,
    readonly keys: TokenKeys,
    private readonly ttlSeconds: number,
  ) {
    this.header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid: keys.kid, x5c: [keys.certDer.toString('base64')] }));
    this.publicKey = createPublicKey(keys.privateKey);
  }

  /**
   * Verifies a bearer token the way distribution does (registry/auth/token/token.go): Berth's own ES256 signature
   * (P1363), `iss` and `aud` (a string) equal to Berth's, `exp` and `nbf` with 60 s leeway. Only tokens with exactly
   * the header Berth issues are considered (no algorithm or key choice is left to the token). Null when invalid.
   */
  verify(token: string, now = Math.floor(Date.now() / 1000)): VerifiedToken | null {
    const hit = this.verified.get(token);
    if (hit) return hit.exp + LEEWAY_S >= now ? hit : null;
    if (token.length > MAX_TOKEN_LENGTH) return null;
    const dot1 = token.indexOf('.');
    const dot2 = token.lastIndexOf('.');
    if (dot1 <= 0 || dot2 === dot1 || token.slice(0, dot1) !== this.header) return null;
    const sig = Buffer.from(token.slice(dot2 + 1), 'base64url');
    if (sig.length !== 64 || !verify('sha256', Buffer.from(token.slice(0, dot2)), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, sig)) return null;
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
    if (c.iss !== TOKEN_ISSUER || c.aud !== TOKEN_SERVICE || typeof c.sub !== 'string') return null;
    if (typeof c.exp !== 'number' || c.exp + LEEWAY_S < now) return null;
    if (typeof c.nbf === 'number' && c.nbf - LEEWAY_S > now) return null;
    const access = Array.isArray(c.access) ? (c.access as unknown[]).filter(isAccess) : [];
    const v: VerifiedToken = { sub: c.sub, iat: typeof c.iat === 'number' ? c.iat : 0, exp: c.exp, access };
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(token, v);
    return v;
  }

  /**
   * The access a principal gets for the requested scopes, from live permissions as stale as `/v2` may see them
   * ({@link V2_MAX_STALENESS_MS}; a change made by this process is seen at once): every `/v2` request re-checks them,
   * so a token cannot carry more than the next request is allowed.
   */
  async grant(p: Principal, scopes: Scope[]): Promise<Access[]> {
    await this.access.refresh(V2_MAX_STALENESS_MS);
    const projects = new Map<string, Awaited<ReturnType<RegistryAccess['project']>>>();
    const out: Access[] = [];
    for (const s of scopes) {
      if (s.type === 'registry') {
        out.push({ type: 'registry', name: 'catalog', actions: p.kind === 'user' && p.isAdmin ? ['*'] : [] });
        continue;
      }
      if (!projects.has(s.project)) projects.set(s.project, await this.access.project(s.project));
      const project = projects.get(s.project);
      const wanted = s.actions.includes('*') ? [...REPO_ACTIONS] : (s.actions as Exclude<RepoAction, '*'>[]);
      const granted: string[] = [];
      if (project) {
        for (const a of wanted) if (await this.access.can(p, ACTION_PERMISSION[a], project)) granted.push(a);
        if (s.actions.includes('*') && granted.length === REPO_ACTIONS.length) granted.push('*');
      }
      out.push({ type: 'repository', name: s.requestedName, actions: granted });
    }
    return out;
  }

  /** A signed token for `sub` with exactly this access. */
  sign(sub: string, access: Access[], ttlSeconds = this.ttlSeconds): IssuedToken {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: TOKEN_ISSUER, sub, aud: TOKEN_SERVICE, exp: now + ttlSeconds, nbf: now - 1, iat: now, jti: tokenId(), access };
    const input = `${this.header}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key: this.keys.privateKey, dsaEncoding: 'ieee-p1363' });
    return { token: `${input}.${sig.toString('base64url')}`, expiresIn: ttlSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }

  async issue(p: Principal, scopes: Scope[]): Promise<IssuedToken> {
    const access = await this.grant(p, scopes);
    return this.sign(p.kind === 'anonymous' ? '' : p.name, access);
  }

  /** Core's own short-lived token for registry calls (reconciliation, scanning, deletion). */
  internal(access: Access[]): string {
    return this.sign(CORE_SUBJECT, access, 120).token;
  }
}

const isAccess = (a: unknown): a is Access =>
  typeof a === 'object' &&
  a !== null &&
  typeof (a as Access).type === 'string' &&
  typeof (a as Access).name === 'string' &&
  Array.isArray((a as Access).actions) &&
  (a as Access).actions.every((x) => typeof x === 'string');
