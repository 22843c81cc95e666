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
      try {
        principal = await services.principals.fromBasic(basic.username, basic.password, clientIp(c, services.config.trustProxy));
      } catch (err) {
        services.metrics.tokens.inc({ result: 'denied' });
        throw err;
      }
    }
    const scopes = parseScopes(url.searchParams.getAll('scope'), ownHosts);
    const access = await services.tokens.grant(principal, scopes);
    const full = access.every((a, i) => a.actions.length >= (scopes[i]?.actions.length ?? 0) && a.actions.length > 0);
    services.metrics.tokens.inc({ result: full ? 'issued' : 'partial' });
    const issued = services.tokens.sign(principal.kind === 'anonymous' ? '' : principal.name, access);
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt });
  });

  return r;
}
