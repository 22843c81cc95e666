import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { parseScopes, type Scope } from '../auth/scopes.js';
import type { AppEnv, Services } from '../context.js';
import { AppError } from '../errors.js';
import { clientIp, parseBasic } from './middleware.js';

/** What the token endpoint answers: the distribution token spec's body. */
export interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/** Parsed scopes by query string: clients ask with the same few query strings over and over. Bounded (1000 queries of ≤ 1 KiB), cleared when full. */
const scopesByQuery = new Map<string, Scope[]>();
const MAX_CACHED_QUERIES = 1000;

function scopesOf(search: string, ownHosts: string[]): Scope[] {
  if (search.length > 1024) return parseScopes(new URLSearchParams(search).getAll('scope'), ownHosts);
  const key = `${ownHosts.join(' ')}\n${search}`;
  let scopes = scopesByQuery.get(key);
  if (!scopes) {
    scopes = parseScopes(new URLSearchParams(search).getAll('scope'), ownHosts);
    if (scopesByQuery.size >= MAX_CACHED_QUERIES) scopesByQuery.clear();
    scopesByQuery.set(key, scopes);
  }
  return scopes;
}

/**
 * `/service/token`, the distribution token spec (docs/spec/auth/token.md): Basic credentials (user or robot) or
 * anonymous, any number of `scope` parameters. Bad credentials are a 401 (AppError); a scope the principal may not
 * have is granted with no actions. The one implementation behind both the raw listener and the Hono route.
 */
export async function answerTokenRequest(services: Services, q: { search: string; authorization: string | undefined; ip: string; ownHosts: string[] }): Promise<TokenAnswer> {
  if (q.search.length > 16 * 1024) throw new AppError('BAD_REQUEST', 'query too long');
  let principal: Principal = ANONYMOUS;
  if (q.authorization) {
    const basic = parseBasic(q.authorization);
    if (!basic) throw new AppError('UNAUTHORIZED', 'malformed Authorization header: use Basic credentials');
    try {
      principal = await services.principals.fromBasic(basic.username, basic.password, q.ip);
    } catch (err) {
      services.metrics.tokens.inc({ result: 'denied' });
      throw err;
    }
  }
  const scopes = scopesOf(q.search, q.ownHosts);
  const access = await services.tokens.grant(principal, scopes);
  const full = access.every((a, i) => a.actions.length >= (scopes[i]?.actions.length ?? 0) && a.actions.length > 0);
  services.metrics.tokens.inc({ result: full ? 'issued' : 'partial' });
  const issued = services.tokens.sign(principal.kind === 'anonymous' ? '' : principal.name, access);
  return { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
}

const ownHostsOf = (services: Services) => {
  const ext = new URL(services.config.externalUrl);
  return [ext.host.toLowerCase(), `localhost:${ext.port || (ext.protocol === 'https:' ? 443 : 80)}`];
};

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/**
 * The token endpoint on the raw node:http listener (like `/v2`): every `docker pull` asks it first, so it skips the
 * web framework's request conversion and middleware. Same answers, errors and metrics as the Hono route.
 */
export function createTokenListener(services: Services) {
  const ownHosts = ownHostsOf(services);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let status = 200;
    let body: string;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', ...NO_STORE };
    if (req.headers['content-length'] || req.headers['transfer-encoding']) req.resume(); // a GET: any body is ignored, never buffered
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      status = 405;
      body = JSON.stringify({ errors: [{ code: 'METHOD_NOT_ALLOWED', message: 'use GET' }] });
    } else {
      try {
        const ip = services.config.trustProxy
          ? ((req.headers['x-forwarded-for'] as string | undefined)?.split(',').pop()?.trim() ?? req.socket.remoteAddress ?? 'unknown')
          : (req.socket.remoteAddress ?? 'unknown');
        body = JSON.stringify(await answerTokenRequest(services, { search: q === -1 ? '' : url.slice(q), authorization: req.headers.authorization, ip, ownHosts }));
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError('INTERNAL', 'internal error');
        if (!(err instanceof AppError)) services.log.error({ err }, 'token endpoint failed');
        status = e.status;
        if (status === 429) headers['retry-after'] = '900';
        body = JSON.stringify({ errors: [{ code: e.code, message: e.message }] });
      }
    }
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** The same endpoint as a Hono route, for in-process requests (`app.request`, tests). */
export function tokenRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const ownHosts = ownHostsOf(services);
  r.get('/token', async (c) => {
    const url = new URL(c.req.url);
    const answer = await answerTokenRequest(services, { search: url.search, authorization: c.req.header('authorization'), ip: clientIp(c, services.config.trustProxy), ownHosts });
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json(answer);
  });
  return r;
}
