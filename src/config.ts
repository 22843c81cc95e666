import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { parseAddressRules } from './net/outbound.js';
import {
  AUTH_MODES,
  type AuthMode,
  httpUrl,
  LDAP_MEMBER_ATTRS,
  LDAP_SCOPES,
  ldapAttribute,
  ldapFilter,
  ldapUrl,
  type LdapMemberAttr,
  type LdapScope,
  oidcClaim,
  oidcScopes,
} from './auth/provider-grammar.js';

/**
 * Every environment variable Berth reads, in one table: parsed once, validated, frozen.
 * The README's configuration reference is generated from `CONFIG_VARS`, so the two cannot drift.
 */
export const CONFIG_VARS = [
  { name: 'PORT', default: '8080', doc: 'TCP port of the public HTTP listener.' },
  { name: 'BERTH_LISTEN', default: '127.0.0.1', doc: 'Address the public listener binds to: loopback only by default; `0.0.0.0` (or `::`) serves every interface (compose and the image set it).' },
  { name: 'BERTH_DATA_DIR', default: './data', doc: 'Data directory: SQLite file, keys, managed registry storage.' },
  { name: 'DATABASE_URL', default: '(SQLite in the data dir)', doc: '`mysql://user:pass@host:port/db` for MySQL/MariaDB, or `sqlite:<path>`.' },
  { name: 'BERTH_EXTERNAL_URL', default: 'http://127.0.0.1:$PORT', doc: 'Public base URL clients use (token realm, upload locations, cookies `Secure` under https).' },
  { name: 'BERTH_ADMIN_PASSWORD', default: '(generated and printed once)', doc: 'Initial password of user `admin` on first start.' },
  { name: 'BERTH_REGISTRY_URL', default: '(managed registry)', doc: 'Use this external distribution registry instead of starting one.' },
  { name: 'BERTH_REGISTRY_BIN', default: 'docker-registry', doc: 'Registry binary for managed mode.' },
  { name: 'BERTH_REGISTRY_CONFIG', default: '(none)', doc: 'External mode: the registry config file core can read, for garbage collection on shared storage.' },
  { name: 'BERTH_REGISTRY_STORAGE', default: '(none)', doc: 'External mode: the registry storage root core shares (garbage collection, direct blob reads).' },
  { name: 'BERTH_NOTIFICATION_SECRET', default: '(generated in the data dir)', doc: 'Shared secret the registry sends to `/service/notifications` (external mode).' },
  { name: 'BERTH_NOTIFICATION_SECRET_FILE', default: '(none)', doc: 'File holding the notification secret instead (a mounted secret); not with `BERTH_NOTIFICATION_SECRET`.' },
  {
    name: 'BERTH_SETTINGS_KEY_FILE',
    default: '(generated in the data dir)',
    doc: 'File holding the key (32 bytes, base64url) that encrypts secrets saved through the settings API; replicas without a shared data dir need the same one.',
  },
  {
    name: 'BERTH_TOKEN_KEY_FILE',
    default: '(generated in the data dir)',
    doc: 'PEM EC P-256 private key that signs registry tokens; with `BERTH_TOKEN_CERT_FILE`, nothing is generated (replicas without a shared data dir).',
  },
  { name: 'BERTH_TOKEN_CERT_FILE', default: '(generated in the data dir)', doc: 'PEM certificate of that key, the one the registry trusts (`rootcertbundle`).' },
  { name: 'BERTH_TOKEN_TTL', default: '300', doc: 'Lifetime of registry bearer tokens, seconds (60–3600).' },
  { name: 'BERTH_SESSION_TTL', default: '43200', doc: 'Lifetime of UI sessions, seconds.' },
  { name: 'BERTH_TRUST_PROXY', default: 'false', doc: 'Take the client address from `X-Forwarded-For` (set behind nginx).' },
  { name: 'BERTH_JOB_WEBHOOK_URL', default: '(none)', doc: 'Receives every job status change as signed JSON (see `BERTH_JOB_WEBHOOK_SECRET`).' },
  { name: 'BERTH_JOB_WEBHOOK_SECRET', default: '(none)', doc: 'HMAC-SHA256 key for the `X-Berth-Signature` header of job webhooks.' },
  {
    name: 'BERTH_WEBHOOK_RETRY_MS',
    default: '5000',
    doc: 'First retry delay of a project webhook delivery, milliseconds; it doubles per failure up to 5 minutes, over at most 20 attempts (about 70 minutes).',
  },
  { name: 'BERTH_VULNDB_URLS', default: '(none)', doc: 'Comma-separated OSV feed URLs (zip or JSON) the `vulndb-update` job downloads; offline sites import files instead.' },
  {
    name: 'BERTH_SCAN_MAX_RATIO',
    default: '100',
    doc: 'Built-in scanner: a layer is read up to this many uncompressed bytes per compressed byte (at least 16 MiB); past it the layer is capped and the report `incomplete` (gzip/zstd bombs).',
  },
  {
    name: 'BERTH_SCAN_MAX_IMAGE_MIB',
    default: '16384',
    doc: 'Built-in scanner: uncompressed MiB read per artifact (all layers and platforms); layers past it are not read and the report is `incomplete`.',
  },
  { name: 'BERTH_METRICS_TOKEN', default: '(none: open)', doc: 'Bearer token `/metrics` requires; without it the endpoint is open (it carries no names, digests or secrets).' },
  {
    name: 'BERTH_OUTBOUND_ALLOW',
    default: '(none)',
    doc: 'Comma-separated IPs or CIDRs, each optionally with `:port`, that Berth may call although they are loopback, private or link-local (scanner adapters, webhooks, feeds on an internal network). Added to the system setting `PUT /api/v1/system/outbound-policy`.',
  },
  {
    name: 'BERTH_OUTBOUND_DENY',
    default: '(none)',
    doc: 'Comma-separated IPs or CIDRs (optionally `:port`) Berth never calls; a deny wins over any allow. Berth’s own listener and registry are always denied.',
  },
  { name: 'BERTH_LOG_LEVEL', default: 'info', doc: 'pino log level: fatal, error, warn, info, debug, trace, silent.' },
  {
    name: 'BERTH_AUTH_MODE',
    default: 'db',
    doc: 'Initial sign-in mode: `db` (local users), `ldap` or `oidc`; afterwards a system setting (UI, `PUT /api/v1/system/auth`). Local `admin` always signs in.',
  },
  { name: 'BERTH_LDAP_URL', default: '(none)', doc: 'LDAP server, `ldap://host:389` or `ldaps://host:636` (initial LDAP settings; see "Directory sign-in").' },
  { name: 'BERTH_LDAP_STARTTLS', default: 'false', doc: 'Upgrade `ldap://` connections with StartTLS.' },
  { name: 'BERTH_LDAP_CA_FILE', default: '(system CAs)', doc: 'PEM file of the CA(s) that signed the LDAP server certificate.' },
  { name: 'BERTH_LDAP_BIND_DN', default: '(anonymous search)', doc: 'DN of the service account that searches users and groups.' },
  { name: 'BERTH_LDAP_BIND_PASSWORD', default: '(none)', doc: 'Its password (prefer `BERTH_LDAP_BIND_PASSWORD_FILE`); never stored in the database nor shown.' },
  { name: 'BERTH_LDAP_BIND_PASSWORD_FILE', default: '(none)', doc: 'File holding the bind password (a container secret), read at start.' },
  { name: 'BERTH_LDAP_BASE_DN', default: '(none)', doc: 'Where users are searched.' },
  { name: 'BERTH_LDAP_SCOPE', default: 'sub', doc: 'User and group search scope: `sub` or `one`.' },
  { name: 'BERTH_LDAP_FILTER', default: '(objectClass=person)', doc: 'Filter users must also match, in parentheses.' },
  { name: 'BERTH_LDAP_UID_ATTR', default: 'uid', doc: 'Attribute holding the username (`uid`, `sAMAccountName`).' },
  { name: 'BERTH_LDAP_GROUP_BASE_DN', default: '(no group search)', doc: 'Where groups are searched (not needed with `memberOf`).' },
  { name: 'BERTH_LDAP_GROUP_FILTER', default: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))', doc: 'Filter groups must match.' },
  {
    name: 'BERTH_LDAP_GROUP_MEMBER_ATTR',
    default: 'member',
    doc: 'How membership is recorded: `member`, `uniqueMember` (user DN in the group), `memberUid` (username in the group) or `memberOf` (group DN in the user).',
  },
  { name: 'BERTH_LDAP_ADMIN_GROUP', default: '(none)', doc: 'Group (DN or name) whose members are system admins.' },
  {
    name: 'BERTH_OIDC_ISSUER',
    default: '(none)',
    doc: 'OpenID Provider issuer URL (discovery at `/.well-known/openid-configuration`); the redirect URI to register is `$BERTH_EXTERNAL_URL/oidc/callback`.',
  },
  { name: 'BERTH_OIDC_CLIENT_ID', default: '(none)', doc: 'OIDC client id.' },
  { name: 'BERTH_OIDC_CLIENT_SECRET', default: '(none)', doc: 'OIDC client secret (prefer `BERTH_OIDC_CLIENT_SECRET_FILE`); never stored in the database nor shown.' },
  { name: 'BERTH_OIDC_CLIENT_SECRET_FILE', default: '(none)', doc: 'File holding the client secret, read at start.' },
  { name: 'BERTH_OIDC_SCOPES', default: 'openid profile email groups', doc: 'Scopes requested (space-separated; `openid` is always added).' },
  { name: 'BERTH_OIDC_USERNAME_CLAIM', default: 'preferred_username', doc: 'ID token / userinfo claim that becomes the Berth username.' },
  { name: 'BERTH_OIDC_GROUPS_CLAIM', default: 'groups', doc: "Claim listing the user's groups (matched against group members of projects)." },
  { name: 'BERTH_OIDC_ADMIN_GROUP', default: '(none)', doc: 'Group whose members are system admins.' },
  { name: 'BERTH_OIDC_ACCEPT_ID_TOKEN', default: 'false', doc: 'Also accept a valid ID token from the provider as the password of `docker login` (for CI systems that hold one).' },
] as const;

/** Directory settings from the environment: initial values of the `auth` system setting, and the two secrets. */
export interface IdentityConfig {
  readonly authMode: AuthMode;
  readonly ldap: {
    readonly url?: string;
    readonly startTls: boolean;
    readonly caFile?: string;
    readonly bindDn?: string;
    readonly baseDn?: string;
    readonly scope: LdapScope;
    readonly filter: string;
    readonly uidAttr: string;
    readonly groupBaseDn?: string;
    readonly groupFilter: string;
    readonly groupMemberAttr: LdapMemberAttr;
    readonly adminGroup?: string;
  };
  /** from BERTH_LDAP_BIND_PASSWORD(_FILE): used whenever no password is stored in the settings */
  readonly ldapBindPassword?: string;
  readonly oidc: {
    readonly issuer?: string;
    readonly clientId?: string;
    readonly scopes: string;
    readonly usernameClaim: string;
    readonly groupsClaim: string;
    readonly adminGroup?: string;
    readonly acceptIdToken: boolean;
  };
  /** from BERTH_OIDC_CLIENT_SECRET(_FILE) */
  readonly oidcClientSecret?: string;
}

export interface DatabaseConfig {
  readonly dialect: 'sqlite' | 'mysql';
  /** SQLite file path, or the MySQL connection URL. */
  readonly url: string;
}

export interface Config {
  readonly port: number;
  /** Address the listener binds to (`BERTH_LISTEN`), without brackets for IPv6. */
  readonly host: string;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly externalUrl: string;
  readonly secureCookies: boolean;
  readonly adminPassword: string | undefined;
  readonly registryUrl: string | undefined;
  readonly registryBin: string;
  readonly registryConfigPath: string | undefined;
  readonly registryStorage: string | undefined;
  readonly notificationSecret: string | undefined;
  /** file holding the notification secret (read at wiring, never generated) */
  readonly notificationSecretFile: string | undefined;
  /** PEM key and certificate files for token signing; both or neither */
  readonly tokenKeyFile: string | undefined;
  /** file holding the settings encryption key (read at wiring, never generated) */
  readonly settingsKeyFile: string | undefined;
  readonly tokenCertFile: string | undefined;
  readonly tokenTtlSeconds: number;
  readonly sessionTtlSeconds: number;
  readonly trustProxy: boolean;
  readonly logLevel: string;
  readonly vulndbUrls: readonly string[];
  readonly metricsToken: string | undefined;
  readonly jobWebhookUrl: string | undefined;
  readonly jobWebhookSecret: string | undefined;
  /** outbound policy rules from the environment (src/net/outbound.ts) */
  readonly outboundAllow: readonly string[];
  readonly outboundDeny: readonly string[];
  /** built-in scanner budgets: uncompressed bytes per compressed byte of a layer, and bytes read per artifact */
  readonly scanMaxRatio: number;
  readonly scanMaxImageBytes: number;
  readonly identity: IdentityConfig;
  readonly webhookRetryMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const intIn = (min: number, max: number) => z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const addressRules = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).max(200))
  .superRefine((list, ctx) => {
    for (const p of parseAddressRules(list).problems) ctx.addIssue({ code: 'custom', message: p });
  });

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z.object({
  PORT: intIn(0, 65535).default(8080),
  BERTH_LISTEN: z
    .string()
    .transform((s) => s.replace(/^\[(.*)\]$/, '$1'))
    .refine((s) => isIP(s) !== 0 || s === 'localhost', 'must be an IP address (127.0.0.1, 0.0.0.0, ::1, ::) or localhost')
    .default('127.0.0.1'),
  BERTH_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .refine((s) => /^mysql:\/\/[^/]+\/[A-Za-z0-9_$]+(\?.*)?$/.test(s) || /^sqlite:.+/.test(s), 'must be mysql://user:pass@host:port/db or sqlite:<path>')
    .optional(),
  BERTH_EXTERNAL_URL: httpUrl.optional(),
  BERTH_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').max(256).optional(),
  BERTH_REGISTRY_URL: httpUrl.optional(),
  BERTH_REGISTRY_BIN: z.string().min(1).default('docker-registry'),
  BERTH_REGISTRY_CONFIG: z.string().min(1).optional(),
  BERTH_REGISTRY_STORAGE: z.string().min(1).optional(),
  BERTH_NOTIFICATION_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  BERTH_NOTIFICATION_SECRET_FILE: z.string().min(1).optional(),
  BERTH_TOKEN_KEY_FILE: z.string().min(1).optional(),
  BERTH_SETTINGS_KEY_FILE: z.string().min(1).optional(),
  BERTH_TOKEN_CERT_FILE: z.string().min(1).optional(),
  BERTH_TOKEN_TTL: intIn(60, 3600).default(300),
  BERTH_SESSION_TTL: intIn(300, 30 * 86400).default(43200),
  BERTH_TRUST_PROXY: bool.default(false),
  BERTH_VULNDB_URLS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(httpUrl).max(50))
    .optional(),
  BERTH_SCAN_MAX_RATIO: intIn(2, 100_000).default(100),
  BERTH_SCAN_MAX_IMAGE_MIB: intIn(16, 16 * 1024 * 1024).default(16384),
  BERTH_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  BERTH_JOB_WEBHOOK_URL: httpUrl.optional(),
  BERTH_JOB_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  BERTH_OUTBOUND_ALLOW: addressRules.optional(),
  BERTH_OUTBOUND_DENY: addressRules.optional(),
  BERTH_WEBHOOK_RETRY_MS: intIn(10, 600_000).default(5000),
  BERTH_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BERTH_AUTH_MODE: z.enum(AUTH_MODES).default('db'),
  BERTH_LDAP_URL: ldapUrl.optional(),
  BERTH_LDAP_STARTTLS: bool.default(false),
  BERTH_LDAP_CA_FILE: z.string().min(1).optional(),
  BERTH_LDAP_BIND_DN: z.string().min(1).max(1024).optional(),
  BERTH_LDAP_BIND_PASSWORD: z.string().max(1024).optional(),
  BERTH_LDAP_BIND_PASSWORD_FILE: z.string().min(1).optional(),
  BERTH_LDAP_BASE_DN: z.string().min(1).max(1024).optional(),
  BERTH_LDAP_SCOPE: z.enum(LDAP_SCOPES).default('sub'),
  BERTH_LDAP_FILTER: ldapFilter.default('(objectClass=person)'),
  BERTH_LDAP_UID_ATTR: ldapAttribute.default('uid'),
  BERTH_LDAP_GROUP_BASE_DN: z.string().min(1).max(1024).optional(),
  BERTH_LDAP_GROUP_FILTER: ldapFilter.default('(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))'),
  BERTH_LDAP_GROUP_MEMBER_ATTR: z.enum(LDAP_MEMBER_ATTRS).default('member'),
  BERTH_LDAP_ADMIN_GROUP: z.string().min(1).max(255).optional(),
  BERTH_OIDC_ISSUER: httpUrl.optional(),
  BERTH_OIDC_CLIENT_ID: z.string().min(1).max(255).optional(),
  BERTH_OIDC_CLIENT_SECRET: z.string().max(1024).optional(),
  BERTH_OIDC_CLIENT_SECRET_FILE: z.string().min(1).optional(),
  BERTH_OIDC_SCOPES: oidcScopes.default('openid profile email groups'),
  BERTH_OIDC_USERNAME_CLAIM: oidcClaim.default('preferred_username'),
  BERTH_OIDC_GROUPS_CLAIM: oidcClaim.default('groups'),
  BERTH_OIDC_ADMIN_GROUP: z.string().min(1).max(255).optional(),
  BERTH_OIDC_ACCEPT_ID_TOKEN: bool.default(false),
});

/** A `_FILE` secret: the file's content without its final newline; problems are collected. */
function secretFrom(value: string | undefined, file: string | undefined, name: string, problems: string[]): string | undefined {
  if (value !== undefined && file !== undefined) problems.push(`${name}: set either ${name} or ${name}_FILE, not both`);
  if (file === undefined) return value;
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    problems.push(`${name}_FILE: cannot read ${file}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Parses the environment; throws one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const v of CONFIG_VARS) {
    const raw = env[v.name];
    if (raw !== undefined && raw !== '') input[v.name] = raw;
  }
  const parsed = schema.safeParse(input);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  if (input.BERTH_NOTIFICATION_SECRET && input.BERTH_NOTIFICATION_SECRET_FILE) problems.push('BERTH_NOTIFICATION_SECRET_FILE: set either it or BERTH_NOTIFICATION_SECRET, not both');
  if (!input.BERTH_TOKEN_KEY_FILE !== !input.BERTH_TOKEN_CERT_FILE) problems.push('BERTH_TOKEN_KEY_FILE, BERTH_TOKEN_CERT_FILE: set both or neither');
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const ldapBindPassword = secretFrom(e.BERTH_LDAP_BIND_PASSWORD, e.BERTH_LDAP_BIND_PASSWORD_FILE, 'BERTH_LDAP_BIND_PASSWORD', problems);
  const oidcClientSecret = secretFrom(e.BERTH_OIDC_CLIENT_SECRET, e.BERTH_OIDC_CLIENT_SECRET_FILE, 'BERTH_OIDC_CLIENT_SECRET', problems);
  if (problems.length) throw new ConfigError(problems);
  const identity: IdentityConfig = {
    authMode: e.BERTH_AUTH_MODE,
    ldap: {
      url: e.BERTH_LDAP_URL?.replace(/\/$/, ''),
      startTls: e.BERTH_LDAP_STARTTLS,
      caFile: e.BERTH_LDAP_CA_FILE ? path.resolve(e.BERTH_LDAP_CA_FILE) : undefined,
      bindDn: e.BERTH_LDAP_BIND_DN,
      baseDn: e.BERTH_LDAP_BASE_DN,
      scope: e.BERTH_LDAP_SCOPE,
      filter: e.BERTH_LDAP_FILTER,
      uidAttr: e.BERTH_LDAP_UID_ATTR,
      groupBaseDn: e.BERTH_LDAP_GROUP_BASE_DN,
      groupFilter: e.BERTH_LDAP_GROUP_FILTER,
      groupMemberAttr: e.BERTH_LDAP_GROUP_MEMBER_ATTR,
      adminGroup: e.BERTH_LDAP_ADMIN_GROUP,
    },
    ldapBindPassword,
    oidc: {
      issuer: e.BERTH_OIDC_ISSUER?.replace(/\/+$/, ''),
      clientId: e.BERTH_OIDC_CLIENT_ID,
      scopes: e.BERTH_OIDC_SCOPES,
      usernameClaim: e.BERTH_OIDC_USERNAME_CLAIM,
      groupsClaim: e.BERTH_OIDC_GROUPS_CLAIM,
      adminGroup: e.BERTH_OIDC_ADMIN_GROUP,
      acceptIdToken: e.BERTH_OIDC_ACCEPT_ID_TOKEN,
    },
    oidcClientSecret,
  };
  const dataDir = path.resolve(e.BERTH_DATA_DIR);
  const externalUrl = (e.BERTH_EXTERNAL_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, '');
  let database: DatabaseConfig;
  if (e.DATABASE_URL?.startsWith('mysql://')) database = { dialect: 'mysql', url: e.DATABASE_URL };
  else if (e.DATABASE_URL?.startsWith('sqlite:')) database = { dialect: 'sqlite', url: path.resolve(e.DATABASE_URL.slice('sqlite:'.length)) };
  else database = { dialect: 'sqlite', url: path.join(dataDir, 'berth.db') };
  return Object.freeze({
    port: e.PORT,
    host: e.BERTH_LISTEN,
    dataDir,
    database: Object.freeze(database),
    externalUrl,
    secureCookies: externalUrl.startsWith('https:'),
    adminPassword: e.BERTH_ADMIN_PASSWORD,
    registryUrl: e.BERTH_REGISTRY_URL?.replace(/\/+$/, ''),
    registryBin: e.BERTH_REGISTRY_BIN,
    registryConfigPath: e.BERTH_REGISTRY_CONFIG ? path.resolve(e.BERTH_REGISTRY_CONFIG) : undefined,
    registryStorage: e.BERTH_REGISTRY_STORAGE ? path.resolve(e.BERTH_REGISTRY_STORAGE) : undefined,
    notificationSecret: e.BERTH_NOTIFICATION_SECRET,
    notificationSecretFile: e.BERTH_NOTIFICATION_SECRET_FILE ? path.resolve(e.BERTH_NOTIFICATION_SECRET_FILE) : undefined,
    tokenKeyFile: e.BERTH_TOKEN_KEY_FILE ? path.resolve(e.BERTH_TOKEN_KEY_FILE) : undefined,
    settingsKeyFile: e.BERTH_SETTINGS_KEY_FILE ? path.resolve(e.BERTH_SETTINGS_KEY_FILE) : undefined,
    tokenCertFile: e.BERTH_TOKEN_CERT_FILE ? path.resolve(e.BERTH_TOKEN_CERT_FILE) : undefined,
    tokenTtlSeconds: e.BERTH_TOKEN_TTL,
    sessionTtlSeconds: e.BERTH_SESSION_TTL,
    trustProxy: e.BERTH_TRUST_PROXY,
    logLevel: e.BERTH_LOG_LEVEL,
    vulndbUrls: Object.freeze(e.BERTH_VULNDB_URLS ?? []),
    metricsToken: e.BERTH_METRICS_TOKEN,
    jobWebhookUrl: e.BERTH_JOB_WEBHOOK_URL,
    jobWebhookSecret: e.BERTH_JOB_WEBHOOK_SECRET,
    outboundAllow: Object.freeze(e.BERTH_OUTBOUND_ALLOW ?? []),
    outboundDeny: Object.freeze(e.BERTH_OUTBOUND_DENY ?? []),
    scanMaxRatio: e.BERTH_SCAN_MAX_RATIO,
    scanMaxImageBytes: e.BERTH_SCAN_MAX_IMAGE_MIB * 1024 * 1024,
    identity: Object.freeze(identity),
    webhookRetryMs: e.BERTH_WEBHOOK_RETRY_MS,
  });
}

/**
 * The URL a browser on this machine opens for a listener bound to `host`:`port`. A wildcard address (`0.0.0.0`,
 * `::`) is reachable on loopback too, so it prints as 127.0.0.1; IPv6 literals get brackets (RFC 3986 §3.2.2).
 */
export function listenUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${isIP(shown) === 6 ? `[${shown}]` : shown}:${port}`;
}
