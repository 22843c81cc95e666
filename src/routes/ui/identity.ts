import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { AUTH_MODES, LDAP_MEMBER_ATTRS, LDAP_SCOPES } from '../../auth/provider-grammar.js';
import { authSettingsPatchSchema } from '../../services/auth-settings-service.js';
import { systemAdminOnly, type Ctx } from '../http.js';
import { SORTS } from '../../paging.js';
import { CONFIG_LIST_LIMIT, cursorPager, listId, listQuery } from '../pagination.js';
import { flag, parseForm, parsedAs, text } from './forms.js';
import { errorText, page, redirectWith, requireLogin, tr, viewer } from './render.js';

const TEXT_FIELDS = {
  ldap: ['url', 'ca_file', 'bind_dn', 'base_dn', 'filter', 'uid_attr', 'group_base_dn', 'group_filter', 'admin_group'],
  oidc: ['issuer', 'client_id', 'scopes', 'username_claim', 'groups_claim', 'admin_group'],
} as const;
const NULLABLE = new Set(['url', 'ca_file', 'bind_dn', 'base_dn', 'group_base_dn', 'admin_group', 'issuer', 'client_id']);

/** The sign-in settings form as sent: `<section>_<field>` text fields and the check boxes. */
const authForm = z.object({
  ...Object.fromEntries([...TEXT_FIELDS.ldap.map((f) => `ldap_${f}`), ...TEXT_FIELDS.oidc.map((f) => `oidc_${f}`)].map((k) => [k, text(4096)])),
  mode: text(8),
  ldap_start_tls: flag(),
  ldap_scope: text(8),
  ldap_group_member_attr: text(32),
  ldap_timeout_ms: text(8),
  ldap_bind_password: text(1024),
  ldap_bind_password_clear: flag(),
  oidc_client_secret: text(1024),
  oidc_client_secret_clear: flag(),
  oidc_accept_id_token: flag(),
});
const ldapTestForm = z.object({ username: text(255).transform((s) => s.trim()) });

/** The sign-in settings form → the REST patch shape, parsed by the REST body's schema (`authSettingsPatchSchema`). */
function patchFromForm(form: z.output<typeof authForm> & Record<string, string | boolean>) {
  const ldap: Record<string, unknown> = {};
  const oidc: Record<string, unknown> = {};
  for (const [section, out] of [
    ['ldap', ldap],
    ['oidc', oidc],
  ] as const) {
    for (const f of TEXT_FIELDS[section]) {
      const v = String(form[`${section}_${f}`] ?? '').trim();
      out[f] = v === '' && NULLABLE.has(f) ? null : v;
    }
  }
  ldap.start_tls = form.ldap_start_tls;
  ldap.scope = form.ldap_scope;
  ldap.group_member_attr = form.ldap_group_member_attr;
  const timeout = Number(form.ldap_timeout_ms);
  ldap.timeout_ms = Number.isFinite(timeout) ? timeout : 0;
  oidc.accept_id_token = form.oidc_accept_id_token;
  // Secrets: an empty field keeps what is set; the "clear" box removes it.
  const bind = form.ldap_bind_password;
  if (bind) ldap.bind_password = bind;
  else if (form.ldap_bind_password_clear) ldap.bind_password = null;
  const secret = form.oidc_client_secret;
  if (secret) oidc.client_secret = secret;
  else if (form.oidc_client_secret_clear) oidc.client_secret = null;
  return parsedAs(authSettingsPatchSchema, { mode: form.mode, ldap, oidc });
}

/** Sign-in settings for system admins (/settings/auth) and one's own profile with the CLI secret (/account/profile). */
export function identityPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const admin = systemAdminOnly('only system admins');
  r.use('/settings/auth', requireLogin, admin);
  r.use('/settings/auth/*', requireLogin, admin);
  r.use('/account/profile', requireLogin);
  r.use('/account/cli-secret', requireLogin);

  const authPage = async (c: Ctx, extra: Record<string, unknown> = {}, status = 200) =>
    page(
      c,
      'pages/system/auth',
      {
        title: tr(c)('auth_settings.title'),
        nav: 'settings',
        s: await c.var.services.identity.settings.view(),
        modes: AUTH_MODES,
        ldapScopes: LDAP_SCOPES,
        memberAttrs: LDAP_MEMBER_ATTRS,
        externalUrl: c.var.services.config.externalUrl,
        ...extra,
      },
      status,
    );

  r.get('/settings/auth', (c) => authPage(c));

  r.post('/settings/auth', async (c) => {
    const form = await parseForm(c, authForm);
    let mode: string | undefined;
    try {
      const patch = patchFromForm(form);
      mode = patch.mode;
      await c.var.services.identity.settings.update(patch);
    } catch (err) {
      if (err instanceof AppError && err.code === 'BAD_REQUEST') return authPage(c, { error: errorText(c, err) }, 422);
      throw err;
    }
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'auth', { mode });
    return redirectWith(c, '/settings/auth', { kind: 'ok', text: tr(c)('auth_settings.saved') });
  });

  r.post('/settings/auth/ldap-test', async (c) => {
    const { username } = await parseForm(c, ldapTestForm);
    const { identity } = c.var.services;
    const res = username ? await identity.testLdapUser(username) : await identity.testLdapConnection();
    const user = 'user' in res && res.user ? res.user : undefined;
    return authPage(c, { test: { ok: res.ok, message: res.message, username, user } });
  });

  const profile = async (c: Ctx, extra: Record<string, unknown> = {}) => {
    const me = viewer(c)!;
    const user = (await c.var.services.accounts.getUser(me.id))!;
    const list = listId('user-groups', me.id);
    const q = listQuery(c, list, SORTS.userGroups, { defaultLimit: CONFIG_LIST_LIMIT });
    const groups = await c.var.services.identity.groupsOf(me.id, q.req);
    // The CLI-secret POST renders this page too: its pager leads to the profile's GET.
    const pager = cursorPager(c, list, groups, q, '/account/profile');
    return page(c, 'pages/account/profile', { title: tr(c)('profile.title'), user, groups: groups.items, pager, ...extra });
  };
  r.get('/account/profile', (c) => profile(c));
  r.post('/account/cli-secret', async (c) => {
    const secret = await c.var.services.identity.regenerateCliSecret(viewer(c)!.id);
    c.header('Cache-Control', 'no-store');
    return profile(c, { secret });
  });
  return r;
}
