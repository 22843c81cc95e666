import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { User } from '../../../services/account-service.js';
import { AppError, badRequest, notFound } from '../../../errors.js';
import { SORTS } from '../../../paging.js';
import { iso, requireSystemAdmin, type Ctx } from '../../http.js';
import { listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { z } from 'zod';
import { op, route } from './operation.js';
import { idParam, userSchema } from './schemas.js';

const idParams = z.object({ id: idParam.describe('user id') });
const user = (description: string) => ({ description, schema: userSchema });

export const userOps = {
  list: op({
    method: 'get',
    path: '/users',
    summary: 'List users (system admins; search with q)',
    tag: 'users',
    query: paginationQuerySchema.extend({ q: z.string().max(255).optional().describe('part of the username or e-mail') }),
    responses: { 200: { description: 'a page of users', schema: listEnvelopeSchema(userSchema) } },
  }),
  create: op({
    method: 'post',
    path: '/users',
    summary: 'Create a user (system admins)',
    tag: 'users',
    body: z.object({
      username: z.string({ error: 'username and password are required strings' }),
      password: z.string({ error: 'username and password are required strings' }),
      email: z
        .string()
        .max(255)
        .regex(/^[^\s@]+@[^\s@]+$/, 'email is not a valid address')
        .nullable()
        .optional(),
      admin: z.boolean({ error: 'admin must be true or false' }).optional(),
    }),
    responses: { 201: user('the new user') },
    errors: [409],
  }),
  current: op({ method: 'get', path: '/users/current', summary: 'The signed-in user', tag: 'users', responses: { 200: user('the caller') } }),
  get: op({ method: 'get', path: '/users/{id}', summary: 'Get a user (oneself, or any as a system admin)', tag: 'users', params: idParams, responses: { 200: user('the user') } }),
  password: op({
    method: 'put',
    path: '/users/{id}/password',
    summary: 'Change a password (one’s own needs old_password)',
    tag: 'users',
    params: idParams,
    body: z.object({ new_password: z.string({ error: 'new_password is required' }), old_password: z.string().optional() }),
    responses: { 204: { description: 'changed' } },
  }),
  update: op({
    method: 'put',
    path: '/users/{id}',
    summary: 'Disable, enable, make or unmake system admin',
    tag: 'users',
    params: idParams,
    body: z.object({ disabled: z.boolean({ error: 'disabled must be true or false' }).optional(), admin: z.boolean({ error: 'admin must be true or false' }).optional() }).strict(),
    responses: { 200: user('the changed user') },
  }),
  delete: op({ method: 'delete', path: '/users/{id}', summary: 'Delete a user', tag: 'users', params: idParams, responses: { 204: { description: 'deleted' } } }),
};

export const userJson = (u: User): z.output<typeof userSchema> => ({
  id: u.id,
  username: u.username,
  email: u.email,
  admin: u.isAdmin,
  disabled: u.disabled,
  // The column holds only these (accounts and identity services write them); the response check in tests watches.
  auth_source: u.authSource as z.output<typeof userSchema>['auth_source'],
  created_at: iso(u.createdAt),
  updated_at: iso(u.updatedAt),
});

const requireAdmin = (c: Ctx) => requireSystemAdmin(c, 'only system admins manage users');

/** Users: admin only, except reading and changing one's own account. */
export function userRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  route(r, '/users', userOps.create, async (c, v) => {
    requireAdmin(c);
    const b = await v.body();
    const u = await c.var.services.accounts.createUser({ username: b.username, password: b.password, email: b.email ?? null, isAdmin: b.admin });
    await c.var.services.audit.record(c.var.actor, 'create', 'user', u.username, { admin: u.isAdmin });
    return c.json(userJson(u), 201, { Location: `/api/v1/users/${u.id}` });
  });

  route(r, '/users', userOps.list, async (c, v) => {
    requireAdmin(c);
    const search = v.query().q;
    const list = listId('users', search);
    const q = listQuery(c, list, SORTS.users);
    const page = await c.var.services.accounts.listUsers({ q: search, page: q.req });
    return listResponse(c, list, q, page, userJson);
  });

  route(r, '/users', userOps.current, async (c) => {
    const p = c.var.principal;
    if (p.kind !== 'user') throw new AppError('UNAUTHORIZED', 'sign in as a user');
    return c.json(userJson((await c.var.services.accounts.getUser(p.id))!));
  });

  const target = async (c: Ctx, id: number, allowSelf: boolean): Promise<User> => {
    const p = c.var.principal;
    if (!(allowSelf && p.kind === 'user' && p.id === id)) requireAdmin(c);
    const u = await c.var.services.accounts.getUser(id);
    if (!u) throw notFound('user not found');
    return u;
  };

  route(r, '/users', userOps.get, async (c, v) => c.json(userJson(await target(c, v.params().id, true))));

  route(r, '/users', userOps.password, async (c, v) => {
    const u = await target(c, v.params().id, true);
    const b = await v.body();
    const p = c.var.principal;
    const self = p.kind === 'user' && p.id === u.id;
    // Changing one's own password needs the old one, even for admins (a stolen session must not lock the owner out).
    if (self && typeof b.old_password !== 'string') throw badRequest('old_password is required');
    await c.var.services.accounts.changePassword(u.id, b.new_password, {
      oldPassword: self ? b.old_password : undefined,
      keepSessionId: c.var.session?.id,
      clientIp: c.var.actor.ip,
    });
    await c.var.services.audit.record(c.var.actor, 'change_password', 'user', u.username);
    return c.body(null, 204);
  });

  route(r, '/users', userOps.update, async (c, v) => {
    const u = await target(c, v.params().id, false);
    const { disabled, admin } = await v.body();
    let out = u;
    if (disabled !== undefined) out = await c.var.services.accounts.setDisabled(c.var.principal, u.id, disabled);
    if (admin !== undefined) out = await c.var.services.accounts.setAdmin(c.var.principal, u.id, admin);
    await c.var.services.audit.record(c.var.actor, 'update', 'user', u.username, { disabled, admin });
    return c.json(userJson(out));
  });

  route(r, '/users', userOps.delete, async (c, v) => {
    const u = await target(c, v.params().id, false);
    await c.var.services.accounts.deleteUser(c.var.principal, u.id);
    await c.var.services.audit.record(c.var.actor, 'delete', 'user', u.username);
    return c.body(null, 204);
  });

  return r;
}
