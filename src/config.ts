import path from 'node:path';
import { z } from 'zod';

/**
 * Every environment variable Berth reads, in one table: parsed once, validated, frozen.
 * The README's configuration reference is generated from `CONFIG_VARS`, so the two cannot drift.
 */
export const CONFIG_VARS = [
  { name: 'PORT', default: '8080', doc: 'TCP port of the public HTTP listener.' },
  { name: 'BERTH_HOST', default: '0.0.0.0', doc: 'Address the public listener binds to.' },
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
  { name: 'BERTH_TOKEN_KEY_FILE', default: '(generated in the data dir)', doc: 'PEM EC P-256 private key that signs registry tokens; with `BERTH_TOKEN_CERT_FILE`, nothing is generated (replicas without a shared data dir).' },
  { name: 'BERTH_TOKEN_CERT_FILE', default: '(generated in the data dir)', doc: 'PEM certificate of that key, the one the registry trusts (`rootcertbundle`).' },
  { name: 'BERTH_TOKEN_TTL', default: '300', doc: 'Lifetime of registry bearer tokens, seconds (60–3600).' },
  { name: 'BERTH_SESSION_TTL', default: '43200', doc: 'Lifetime of UI sessions, seconds.' },
  { name: 'BERTH_TRUST_PROXY', default: 'false', doc: 'Take the client address from `X-Forwarded-For` (set behind nginx).' },
  { name: 'BERTH_JOB_WEBHOOK_URL', default: '(none)', doc: 'Receives every job status change as signed JSON (see `BERTH_JOB_WEBHOOK_SECRET`).' },
  { name: 'BERTH_JOB_WEBHOOK_SECRET', default: '(none)', doc: 'HMAC-SHA256 key for the `X-Berth-Signature` header of job webhooks.' },
  { name: 'BERTH_VULNDB_URLS', default: '(none)', doc: 'Comma-separated OSV feed URLs (zip or JSON) the `vulndb-update` job downloads; offline sites import files instead.' },
  { name: 'BERTH_METRICS_TOKEN', default: '(none: open)', doc: 'Bearer token `/metrics` requires; without it the endpoint is open (it carries no names, digests or secrets).' },
  { name: 'BERTH_LOG_LEVEL', default: 'info', doc: 'pino log level: fatal, error, warn, info, debug, trace, silent.' },
] as const;

export interface DatabaseConfig {
  readonly dialect: 'sqlite' | 'mysql';
  /** SQLite file path, or the MySQL connection URL. */
  readonly url: string;
}

export interface Config {
  readonly port: number;
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
  readonly tokenCertFile: string | undefined;
  readonly tokenTtlSeconds: number;
  readonly sessionTtlSeconds: number;
  readonly trustProxy: boolean;
  readonly logLevel: string;
  readonly vulndbUrls: readonly string[];
  readonly metricsToken: string | undefined;
  readonly jobWebhookUrl: string | undefined;
  readonly jobWebhookSecret: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const intIn = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username;
  } catch {
    return false;
  }
}, 'must be an http(s) URL without credentials, query or fragment');

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z.object({
  PORT: intIn(0, 65535).default(8080),
  BERTH_HOST: z.string().min(1).default('0.0.0.0'),
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
  BERTH_TOKEN_CERT_FILE: z.string().min(1).optional(),
  BERTH_TOKEN_TTL: intIn(60, 3600).default(300),
  BERTH_SESSION_TTL: intIn(300, 30 * 86400).default(43200),
  BERTH_TRUST_PROXY: bool.default(false),
  BERTH_VULNDB_URLS: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(httpUrl).max(50))
    .optional(),
  BERTH_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  BERTH_JOB_WEBHOOK_URL: httpUrl.optional(),
  BERTH_JOB_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  BERTH_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

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
  const dataDir = path.resolve(e.BERTH_DATA_DIR);
  const externalUrl = (e.BERTH_EXTERNAL_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, '');
  let database: DatabaseConfig;
  if (e.DATABASE_URL?.startsWith('mysql://')) database = { dialect: 'mysql', url: e.DATABASE_URL };
  else if (e.DATABASE_URL?.startsWith('sqlite:')) database = { dialect: 'sqlite', url: path.resolve(e.DATABASE_URL.slice('sqlite:'.length)) };
  else database = { dialect: 'sqlite', url: path.join(dataDir, 'berth.db') };
  return Object.freeze({
    port: e.PORT,
    host: e.BERTH_HOST,
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
    tokenCertFile: e.BERTH_TOKEN_CERT_FILE ? path.resolve(e.BERTH_TOKEN_CERT_FILE) : undefined,
    tokenTtlSeconds: e.BERTH_TOKEN_TTL,
    sessionTtlSeconds: e.BERTH_SESSION_TTL,
    trustProxy: e.BERTH_TRUST_PROXY,
    logLevel: e.BERTH_LOG_LEVEL,
    vulndbUrls: Object.freeze(e.BERTH_VULNDB_URLS ?? []),
    metricsToken: e.BERTH_METRICS_TOKEN,
    jobWebhookUrl: e.BERTH_JOB_WEBHOOK_URL,
    jobWebhookSecret: e.BERTH_JOB_WEBHOOK_SECRET,
  });
}
