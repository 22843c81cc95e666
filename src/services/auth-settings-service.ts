import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { LdapSettings } from '../auth/ldap.js';
import type { IdentityConfig } from '../config.js';
import type { DB } from '../db/connect.js';
import { findSetting, insertSettingIfAbsent, upsertSetting } from '../db/repos/settings.js';
import { badRequest } from '../errors.js';
import { AUTH_MODES, type AuthMode, httpUrl, LDAP_MEMBER_ATTRS, LDAP_SCOPES, ldapAttribute, ldapFilter, ldapUrl, oidcClaim, oidcScopes } from '../auth/provider-grammar.js';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  scopes: string;
  usernameClaim: string;
  groupsClaim: string;
  adminGroup: string | null;
  acceptIdToken: boolean;
}

const SETTING = 'auth';
const nullableText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .nullable()
    .transform((s) => (s ? s : null));

const ldapSchema = z
  .object({
    url: ldapUrl.nullable(),
    start_tls: z.boolean(),
    ca_file: nullableText(4096),
    bind_dn: nullableText(1024),
    /** write-only: a string stores it encrypted, null removes it (the environment's, if any, applies again) */
    bind_password: z.string().max(1024).nullable(),
    base_dn: nullableText(1024),
    scope: z.enum(LDAP_SCOPES),
    filter: ldapFilter,
    uid_attr: ldapAttribute,
    group_base_dn: nullableText(1024),
    group_filter: ldapFilter,
    group_member_attr: z.enum(LDAP_MEMBER_ATTRS),
    admin_group: nullableText(255),
    timeout_ms: z.number().int().min(500).max(60_000),
  })
  .partial()
  .strict();

const oidcSchema = z
  .object({
    issuer: httpUrl.nullable(),
    client_id: nullableText(255),
    /** write-only, like the LDAP bind password */
    client_secret: z.string().max(1024).nullable(),
    scopes: oidcScopes,
    username_claim: oidcClaim,
    groups_claim: oidcClaim,
    admin_group: nullableText(255),
    accept_id_token: z.boolean(),
  })
  .partial()
  .strict();

export const authSettingsPatchSchema = z
  .object({ mode: z.enum(AUTH_MODES), ldap: ldapSchema, oidc: oidcSchema })
  .partial()
  .strict();
export type AuthSettingsPatch = z.infer<typeof authSettingsPatchSchema>;

/** The stored setting: the REST shape, with the secrets encrypted (AES-256-GCM under a key in the data dir). */
interface Stored {
  mode: AuthMode;
  ldap: {
    url: string | null;
    start_tls: boolean;
    ca_file: string | null;
    bind_dn: string | null;
    bind_password_enc: string | null;
    base_dn: string | null;
    scope: 'sub' | 'one';
    filter: string;
    uid_attr: string;
    group_base_dn: string | null;
    group_filter: string;
    group_member_attr: LdapSettings['groupMemberAttr'];
    admin_group: string | null;
    timeout_ms: number;
  };
  oidc: {
    issuer: string | null;
    client_id: string | null;
    client_secret_enc: string | null;
    scopes: string;
    username_claim: string;
    groups_claim: string;
    admin_group: string | null;
    accept_id_token: boolean;
  };
}

/**
 * The sign-in mode and the LDAP and OIDC settings: one system setting in the database (so every replica sees a change
 * at once), seeded from the environment on first start, changed by system admins in the UI or REST. Secrets are never
 * returned: views say only whether one is set, and from where.
 */
export class AuthSettingsService {
  constructor(
    private readonly db: DB,
    private readonly env: IdentityConfig,
    private readonly key: Buffer,
  ) {}

  private initial(): Stored {
    const l = this.env.ldap;
    const o = this.env.oidc;
    return {
      mode: this.env.authMode,
      ldap: {
        url: l.url ?? null,
        start_tls: l.startTls,
        ca_file: l.caFile ?? null,
        bind_dn: l.bindDn ?? null,
        bind_password_enc: null,
        base_dn: l.baseDn ?? null,
        scope: l.scope,
        filter: l.filter,
        uid_attr: l.uidAttr,
        group_base_dn: l.groupBaseDn ?? null,
        group_filter: l.groupFilter,
        group_member_attr: l.groupMemberAttr as LdapSettings['groupMemberAttr'],
        admin_group: l.adminGroup ?? null,
        timeout_ms: 5000,
      },
      oidc: {
        issuer: o.issuer ?? null,
        client_id: o.clientId ?? null,
        client_secret_enc: null,
        scopes: o.scopes,
        username_claim: o.usernameClaim,
        groups_claim: o.groupsClaim,
        admin_group: o.adminGroup ?? null,
        accept_id_token: o.acceptIdToken,
      },
    };
  }

  /** Seeds the setting from the environment unless it exists. */
  async seed(): Promise<void> {
    await insertSettingIfAbsent(this.db, SETTING, JSON.stringify(this.initial()), Date.now());
  }

  private async stored(): Promise<Stored> {
    const raw = await findSetting(this.db, SETTING);
    if (!raw) return this.initial();
    const base = this.initial();
    const v = JSON.parse(raw) as Partial<Stored>;
    return { mode: v.mode ?? base.mode, ldap: { ...base.ldap, ...v.ldap }, oidc: { ...base.oidc, ...v.oidc } };
  }

  async mode(): Promise<AuthMode> {
    return (await this.stored()).mode;
  }

  /** The LDAP settings and bind password in effect, or null when LDAP is not configured (no URL or base DN). */
  async ldap(): Promise<{ settings: LdapSettings; bindPassword: string | undefined } | null> {
    const l = (await this.stored()).ldap;
    if (!l.url || !l.base_dn) return null;
    return {
      settings: {
        url: l.url.replace(/\/$/, ''),
        startTls: l.start_tls,
        caFile: l.ca_file,
        bindDn: l.bind_dn,
        baseDn: l.base_dn,
        scope: l.scope,
        filter: l.filter,
        uidAttr: l.uid_attr,
        groupBaseDn: l.group_base_dn,
        groupFilter: l.group_filter,
        groupMemberAttr: l.group_member_attr,
        adminGroup: l.admin_group,
        timeoutMs: l.timeout_ms,
      },
      bindPassword: l.bind_password_enc ? this.decrypt(l.bind_password_enc) : this.env.ldapBindPassword,
    };
  }

  /** The OIDC settings and client secret in effect, or null when OIDC is not configured (no issuer or client id). */
  async oidc(): Promise<{ settings: OidcSettings; clientSecret: string | undefined; revision: string } | null> {
    const o = (await this.stored()).oidc;
    if (!o.issuer || !o.client_id) return null;
    const clientSecret = o.client_secret_enc ? this.decrypt(o.client_secret_enc) : this.env.oidcClientSecret;
    return {
      settings: {
        issuer: o.issuer,
        clientId: o.client_id,
        scopes: o.scopes,
        usernameClaim: o.username_claim,
        groupsClaim: o.groups_claim,
        adminGroup: o.admin_group,
        acceptIdToken: o.accept_id_token,
      },
      clientSecret,
      // changes whenever what discovery depends on changes, so a cached client is rebuilt
      revision: JSON.stringify([o.issuer, o.client_id, o.client_secret_enc ?? '', clientSecret ? 1 : 0]),
    };
  }

  /** The settings as REST and the UI show them: no secrets, only whether one is set and where it comes from. */
  async view() {
    const s = await this.stored();
    const { bind_password_enc, ...ldap } = s.ldap;
    const { client_secret_enc, ...oidc } = s.oidc;
    const source = (stored: string | null, env: string | undefined) => (stored ? 'settings' : env !== undefined ? 'environment' : null);
    return {
      mode: s.mode,
      ldap: { ...ldap, bind_password_set: source(bind_password_enc, this.env.ldapBindPassword) },
      oidc: { ...oidc, client_secret_set: source(client_secret_enc, this.env.oidcClientSecret), redirect_uri_path: '/oidc/callback' },
    };
  }

  /** Applies a patch parsed by `authSettingsPatchSchema` (at the route); a mode needs its settings complete. Returns the new view. Throws BAD_REQUEST. */
  async update(v: AuthSettingsPatch) {
    const s = await this.stored();
    if (v.ldap) {
      const { bind_password, ...rest } = v.ldap;
      Object.assign(s.ldap, rest);
      if (bind_password !== undefined) s.ldap.bind_password_enc = bind_password ? this.encrypt(bind_password) : null;
    }
    if (v.oidc) {
      const { client_secret, ...rest } = v.oidc;
      Object.assign(s.oidc, rest);
      if (client_secret !== undefined) s.oidc.client_secret_enc = client_secret ? this.encrypt(client_secret) : null;
    }
    if (v.mode) s.mode = v.mode;
    if (s.mode === 'ldap' && (!s.ldap.url || !s.ldap.base_dn)) throw badRequest('LDAP mode needs ldap.url and ldap.base_dn');
    if (s.mode === 'oidc' && (!s.oidc.issuer || !s.oidc.client_id)) throw badRequest('OIDC mode needs oidc.issuer and oidc.client_id');
    await upsertSetting(this.db, SETTING, JSON.stringify(s), Date.now());
    return this.view();
  }

  private encrypt(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `v1.${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url')}`;
  }

  private decrypt(enc: string): string | undefined {
    try {
      const raw = Buffer.from(enc.slice(3), 'base64url');
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch {
      return undefined; // a different key (data dir not shared between replicas): treated as no password
    }
  }
}
