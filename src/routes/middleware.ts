import { getConnInfo } from '@hono/node-server/conninfo';
import { timingSafeEqual } from 'node:crypto';
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { AppEnv, Services } from '../context.js';
import { AppError } from '../errors.js';
import { peekFirstMultipartField } from './body.js';

export const SESSION_COOKIE = 'berth_session';

/** The client address: the socket peer, or with BERTH_TRUST_PROXY the address our proxy appended last. */
export function clientIp(c: Parameters<Parameters<typeof createMiddleware<AppEnv>>[0]>[0], trustProxy: boolean): string {
  if (trustProxy) {
    const xff = c.req.header('x-forwarded-for');
    const last = xff?.split(',').pop()?.trim();
    if (last && last.length <= 64) return last;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // app.request() in tests has no socket
  }
}

/** Parses `Authorization: Basic`; undefined when absent or malformed. */
export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (!header || header.length > 4096) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Resolves who is calling from Basic credentials (API) or the session cookie; sets principal, session, actor. */
export function authenticate(services: Services, opts: { allowBasic: boolean }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const ip = clientIp(c, services.config.trustProxy);
    let principal: Principal = ANONYMOUS;
    let session;
    const authz = c.req.header('authorization');
    if (opts.allowBasic && authz) {
      const basic = parseBasic(authz);
      if (!basic) throw new AppError('UNAUTHORIZED', 'malformed Authorization header');
      principal = await services.principals.fromBasic(basic.username, basic.password, ip);
    } else {
      const token = getCookie(c, SESSION_COOKIE);
      if (token) {
        const resolved = await services.accounts.resolveSession(token);
        if (resolved) {
          session = resolved.session;
          const u = resolved.user;
          principal = { kind: 'user', id: u.id, name: u.username, isAdmin: u.isAdmin };
        }
      }
    }
    c.set('principal', principal);
    c.set('session', session);
    c.set('actor', { name: principal.kind === 'anonymous' ? 'anonymous' : principal.name, ip });
    await next();
  });
}

/**
 * CSRF for cookie-authenticated writes: the Origin (when sent) must be ours, and the session's token must come back
 * in the `X-CSRF-Token` header (htmx, scripts), the `_csrf` field of a urlencoded form, or the first field of a
 * multipart form (read alone, so a refused upload is never read). Basic-auth API calls carry no ambient
 * credentials and need neither.
 */
export function csrfGuard(services: Services) {
  const ownOrigin = new URL(services.config.externalUrl).origin;
  return createMiddleware<AppEnv>(async (c, next) => {
    const m = c.req.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next();
    if (!originAllowed(c.req.header('origin'), ownOrigin, c.req.header('host'))) throw new AppError('DENIED', 'cross-site request refused', undefined, { key: 'cross_site' });
    const session = c.get('session');
    if (!session) return next(); // no ambient credentials: nothing to forge (login has its own check)
    let sent = c.req.header('x-csrf-token');
    if (!sent) {
      const type = (c.req.header('content-type') ?? '').toLowerCase();
      if (type.startsWith('application/x-www-form-urlencoded')) {
        // Small by nature, and read through the body limit of the path (256 KiB for the UI).
        const form = await c.req.parseBody();
        sent = typeof form._csrf === 'string' ? form._csrf : undefined;
      } else if (type.startsWith('multipart/form-data')) {
        // Uploads can be large: only the first field is read (Berth's forms put `_csrf` first), the rest stays
        // unread until the route has decided who may send it.
        sent = await peekFirstMultipartField(c, '_csrf');
      }
    }
    if (!sent || !constantTimeEqual(sent, session.csrfToken)) throw new AppError('DENIED', 'missing or invalid CSRF token: reload the page and try again', undefined, { key: 'csrf' });
    await next();
  });
}

/** Origin must be absent (same-origin navigations by old clients), our public origin, or this host. */
export function originAllowed(origin: string | undefined, ownOrigin: string, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (origin === ownOrigin) return true;
  try {
    const o = new URL(origin);
    return !!host && o.host === host;
  } catch {
    return false;
  }
}
