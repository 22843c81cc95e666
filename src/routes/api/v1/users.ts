import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { User } from '../../../services/account-service.js';
import { AppError, badRequest, denied, notFound } from '../../../errors.js';
import { SORTS } from '../../../paging.js';
import { iso, jsonBody, pathId, type Ctx } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';
import type { Principal } from '../../../auth/principal.js';

export const userJson = (u: User) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  admin: u.isAdmin,
  disabled: u.disabled,
  /** `db`, `ldap` or `oidc`: where the user signs in */
  auth_source: u.authSource,
  created_at: iso(u.createdAt),
  updated_at: iso(u.updatedAt),
});

function requireAdmin(p: Principal): void {
  if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required');
  if (!(p.kind === 'user' && p.isAdmin)) throw denied('only system admins manage users');
}

const optionalBool = (v: unknown, name: string): boolean | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${name} must be true or false`);
  return v;
};

/** Users: admin only, except reading and changing one's own account. */
export function userRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.post('/', async (c) => {
    requireAdmin(c.var.principal);
    const b = await jsonBody(c);
    if (typeof b.username !== 'string' || typeof b.password !== 'string') throw badRequest('username and password are required strings');
    if (b.email !== undefined && b.email !== null && (typeof b.email !== 'string' || b.email.length > 255 || !/^[^\s@]+@[^\s@]+$/.test(b.email))) {
      throw badRequest('email is not a valid address');
    }
    const isAdmin = optionalBool(b.admin, 'admin');
    const u = await c.var.services.accounts.createUser({ username: b.username, password: b.password, email: (b.email as string) ?? null, isAdmin });
    await c.var.services.audit.record(c.var.actor, 'create', 'user', u.username, { admin: u.isAdmin });
    return c.json(userJson(u), 201, { Location: `/api/v1/users/${u.id}` });
  });

  r.get('/', async (c) => {
    requireAdmin(c.var.principal);
    const search = c.req.query('q')?.slice(0, 255);
    const list = listId('users', search);
    const q = listQuery(c, list, SORTS.users);
    const page = await c.var.services.accounts.listUsers({ q: search, page: q.req });
    return listResponse(c, list, q, page, userJson);
  });

  r.get('/current', async (c) => {
    const p = c.var.principal;
    if (p.kind !== 'user') throw new AppError('UNAUTHORIZED', 'sign in as a user');
    return c.json(userJson((await c.var.services.accounts.getUser(p.id))!));
  });

  const target = async (c: Ctx, allowSelf: boolean): Promise<User> => {
    const id = pathId(c, 'id');
    const p = c.var.principal;
    if (!(allowSelf && p.kind === 'user' && p.id === id)) requireAdmin(p);
    const u = await c.var.services.accounts.getUser(id);
    if (!u) throw notFound('user not found');
    return u;
  };

  r.get('/:id', async (c) => c.json(userJson(await target(c, true))));

  r.put('/:id/password', async (c) => {
    const u = await target(c, true);
    const b = await jsonBody(c);
    if (typeof b.new_password !== 'string') throw badRequest('new_password is required');
    const p = c.var.principal;
    const self = p.kind === 'user' && p.id === u.id;
    // Changing one's own password needs the old one, even for admins (a stolen session must not lock the owner out).
    if (self && typeof b.old_password !== 'string') throw badRequest('old_password is required');
    await c.var.services.accounts.changePassword(u.id, b.new_password, { oldPassword: self ? (b.old_password as string) : undefined, keepSessionId: c.var.session?.id });
    await c.var.services.audit.record(c.var.actor, 'change_password', 'user', u.username);
    return c.body(null, 204);
  });

  r.put('/:id', async (c) => {
    const u = await target(c, false);
    const b = await jsonBody(c);
    const unknownKeys = Object.keys(b).filter((k) => k !== 'disabled' && k !== 'admin');
    if (unknownKeys.length) throw badRequest(`unknown fields: ${unknownKeys.join(', ').slice(0, 200)}`);
    const disabled = optionalBool(b.disabled, 'disabled');
    const admin = optionalBool(b.admin, 'admin');
    const p = c.var.principal;
    if (p.kind === 'user' && p.id === u.id && (disabled === true || admin === false)) throw badRequest('you cannot disable yourself or drop your own admin flag');
    let out = u;
    if (disabled !== undefined) out = await c.var.services.accounts.setDisabled(u.id, disabled);
    if (admin !== undefined) out = await c.var.services.accounts.setAdmin(u.id, admin);
    await c.var.services.audit.record(c.var.actor, 'update', 'user', u.username, { disabled, admin });
    return c.json(userJson(out));
  });

  r.delete('/:id', async (c) => {
    const u = await target(c, false);
    const p = c.var.principal;
    if (p.kind === 'user' && p.id === u.id) throw badRequest('you cannot delete yourself');
    await c.var.services.accounts.deleteUser(u.id);
    await c.var.services.audit.record(c.var.actor, 'delete', 'user', u.username);
    return c.body(null, 204);
  });

  return r;
}
