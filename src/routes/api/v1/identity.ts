import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { AppError } from '../../../errors.js';
import { requireSystemAdmin } from '../../http.js';
import { z } from 'zod';
import { authSettingsPatchSchema } from '../../../services/auth-settings-service.js';
import { op, route } from './operation.js';
import { authSettingsViewSchema } from './schemas.js';
import { SORTS } from '../../../paging.js';
import { CONFIG_LIST_LIMIT, listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';

const ldapResult = z.object({
  ok: z.boolean(),
  message: z.string(),
  user: z.object({ dn: z.string(), username: z.string(), email: z.string().nullable(), groups: z.array(z.string()), admin: z.boolean() }).optional(),
});

export const identityOps = {
  settings: op({
    method: 'get',
    path: '/system/auth',
    summary: 'Sign-in mode and LDAP/OIDC settings (secrets never shown)',
    tag: 'system',
    responses: { 200: { description: 'the settings', schema: authSettingsViewSchema } },
  }),
  update: op({
    method: 'put',
    path: '/system/auth',
    summary: 'Change the sign-in mode and LDAP/OIDC settings',
    tag: 'system',
    body: authSettingsPatchSchema,
    responses: { 200: { description: 'the settings', schema: authSettingsViewSchema } },
  }),
  ldapTest: op({
    method: 'post',
    path: '/system/auth/ldap/test',
    summary: 'Test the LDAP connection, or look up a user {username}',
    tag: 'system',
    body: z.object({ username: z.string({ error: 'username must be a string' }).optional() }),
    bodyRequired: false,
    responses: { 200: { description: 'how it went', schema: ldapResult } },
  }),
  cliSecret: op({
    method: 'post',
    path: '/users/current/cli-secret',
    summary: 'A new CLI secret for the signed-in OIDC user (the docker password; shown once)',
    tag: 'users',
    responses: { 200: { description: 'the secret', schema: z.object({ username: z.string(), secret: z.string() }) } },
  }),
  groups: op({
    method: 'get',
    path: '/users/current/groups',
    summary: 'The directory groups of the signed-in user (from their last sign-in), by name (keyset cursors)',
    tag: 'users',
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of group names', schema: listEnvelopeSchema(z.string()) } },
  }),
};

const SETTINGS_REFUSAL = 'only system admins change sign-in settings';

/** Sign-in settings (system admins) and the caller's own CLI secret (OIDC users). */
export function identityRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  route(r, '', identityOps.settings, async (c) => {
    requireSystemAdmin(c, SETTINGS_REFUSAL);
    return c.json(await c.var.services.identity.settings.view());
  });

  route(r, '', identityOps.update, async (c, v) => {
    requireSystemAdmin(c, SETTINGS_REFUSAL);
    const body = await v.body();
    const view = await c.var.services.identity.settings.update(body);
    // What changed, without secrets.
    const detail = JSON.parse(JSON.stringify(body, (k, v) => (k === 'bind_password' || k === 'client_secret' ? (v ? '(set)' : v) : v)));
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'auth', detail);
    return c.json(view);
  });

  route(r, '', identityOps.ldapTest, async (c, v) => {
    requireSystemAdmin(c, SETTINGS_REFUSAL);
    const type = c.req.header('content-type') ?? '';
    const b = type.includes('json') ? await v.body() : {};
    const { identity } = c.var.services;
    if (!b.username) return c.json(await identity.testLdapConnection());
    const res = await identity.testLdapUser(b.username);
    return c.json<z.output<typeof ldapResult>>({
      ok: res.ok,
      message: res.message,
      user: res.user ? { dn: res.user.dn, username: res.user.username, email: res.user.email, groups: res.user.groups, admin: res.user.isAdmin } : undefined,
    });
  });

  route(r, '', identityOps.cliSecret, async (c) => {
    const p = c.var.principal;
    if (p.kind !== 'user') throw new AppError('UNAUTHORIZED', 'sign in as a user');
    const secret = await c.var.services.identity.regenerateCliSecret(p.id);
    c.header('Cache-Control', 'no-store');
    return c.json({ username: p.name, secret });
  });

  route(r, '', identityOps.groups, async (c) => {
    const p = c.var.principal;
    if (p.kind !== 'user') throw new AppError('UNAUTHORIZED', 'sign in as a user');
    // The list is the caller's own: the user id binds the cursor to it.
    const list = listId('user-groups', p.id);
    const q = listQuery(c, list, SORTS.userGroups, { defaultLimit: CONFIG_LIST_LIMIT });
    return listResponse(c, list, q, await c.var.services.identity.groupsOf(p.id, q.req), (g) => g);
  });

  return r;
}
