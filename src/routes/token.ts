import { Hono } from 'hono';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { parseScopes } from '../auth/scopes.js';
import type { AppEnv, Services } from '../context.js';
import { AppError } from '../errors.js';
import { clientIp, parseBasic } from './middleware.js';

/**
 * `/service/token`, the distribution token spec: Basic credentials (user or robot) or anonymous, any number of
 * `scope` parameters. Bad credentials are a 401; a scope the principal may not have is granted with no actions.
 */
export function tokenRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const ext = new URL(services.config.externalUrl);
  const ownHosts = [ext.host.toLowerCase(), `localhost:${ext.port || (ext.protocol === 'https:' ? 443 : 80)}`];

  r.get('/token', async (c) => {
    const url = new URL(c.req.url);
    if (url.search.length > 16 * 1024) throw new AppError('BAD_REQUEST', 'query too long');
    let principal: Principal = ANONYMOUS;
    const authz = c.req.header('authorization');
    if (authz) {
      const basic = parseBasic(authz);
      if (!basic) throw new AppError('UNAUTHORIZED', 'malformed Authorization header: use Basic credentials');
      principal = await services.principals.fromBasic(basic.username, basic.password, clientIp(c, services.config.trustProxy));
    }
    const scopes = parseScopes(url.searchParams.getAll('scope'), ownHosts);
    const issued = await services.tokens.issue(principal, scopes);
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt });
  });

  return r;
}
