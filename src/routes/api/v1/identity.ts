import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError, badRequest, denied } from '../../../errors.js';
import type { Ctx } from '../../http.js';
import { jsonBody } from '../../http.js';

function requireSystemAdmin(c: Ctx): void {
  const p = c.var.principal;
  if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
  if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins change sign-in settings');
}

/** Sign-in settings (system admins) and the caller's own CLI secret (OIDC users). */
export function identityRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/system/auth', async (c) => {
    requireSystemAdmin(c);
    return c.json(await c.var.services.identity.settings.view());
  });

  r.put('/system/auth', async (c) => {
    requireSystemAdmin(c);
    const body = await jsonBody(c);
    const view = await c.var.services.identity.settings.update(body);
    // What changed, without secrets.
    const detail = JSON.parse(JSON.stringify(body, (k, v) => (k === 'bind_password' || k === 'client_secret' ? (v ? '(set)' : v) : v)));
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'auth', detail);
    return c.json(view);
  });

  r.post('/system/auth/ldap/test', async (c) => {
    requireSystemAdmin(c);
    const type = c.req.header('content-type') ?? '';
    const b = type.includes('json') ? await jsonBody(c) : {};
    if (b.username !== undefined && typeof b.username !== 'string') throw badRequest('username must be a string');
    const { identity } = c.var.services;
    if (!b.username) return c.json(await identity.testLdapConnection());
    const res = await identity.testLdapUser(b.username as string);
    return c.json({ ok: res.ok, message: res.message, user: res.user ? { dn: res.user.dn, username: res.user.username, email: res.user.email, groups: res.user.groups, admin: res.user.isAdmin } : undefined });
  });

  r.post('/users/current/cli-secret', async (c) => {
    const p = c.var.principal;
    if (p.kind !== 'user') throw new AppError('UNAUTHORIZED', 'sign in as a user');
    const secret = await c.var.services.identity.regenerateCliSecret(p.id);
    c.header('Cache-Control', 'no-store');
    return c.json({ username: p.name, secret });
  });

  r.get('/users/current/groups', async (c) => {
    const p = c.var.principal;
    if (p.kind !== 'user') throw new AppError('UNAUTHORIZED', 'sign in as a user');
    return c.json({ items: await c.var.services.identity.groupsOf(p.id) });
  });

  return r;
}
