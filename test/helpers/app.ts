import type { Hono } from 'hono';
import { createApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { AppEnv, Services } from '../../src/context.js';
import type { DB, Dialect } from '../../src/db/connect.js';
import { createLogger } from '../../src/log.js';
import { wireServices } from '../../src/wiring.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './db.js';
import { responseChecker } from './openapi.js';

export const ADMIN_PASSWORD = 'admin-Passw0rd!';

export interface TestApp {
  app: Hono<AppEnv>;
  services: Services;
  /** the database handle (the app itself reaches data only through services) */
  db: DB;
  dialect: Dialect;
  config: Config;
  database: TestDatabase;
  /** The password Berth generated for `admin` on this first start (`BERTH_ADMIN_PASSWORD: ''`), else null. */
  generatedAdminPassword: string | null;
  /** app.request with a path and init; JSON bodies are encoded when `json` is given. */
  req(path: string, init?: RequestOptions): Promise<Response>;
  /** Closes services; keeps the database for a restart unless `drop` is set. */
  close(opts?: { drop?: boolean }): Promise<void>;
  /** Closes and re-wires on the same database and data dir (a restart). */
  restart(): Promise<TestApp>;
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export type RequestOptions = RequestInit & { json?: unknown; auth?: [string, string] };

/** A RequestInit with a JSON body and Basic credentials filled in. */
export function requestInit(init: RequestOptions = {}): RequestInit {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  if (init.auth) headers.set('authorization', basic(init.auth[0], init.auth[1]));
  const { json: _json, auth: _auth, ...rest } = init;
  return { ...rest, headers, body };
}

/** A test app on a fresh database (or `existing`), wired as main.ts wires it; `wire` passes options to wireServices. */
export async function startTestApp(dialect: TestDialect, env: Record<string, string> = {}, existing?: TestDatabase, wire: Parameters<typeof wireServices>[2] = {}): Promise<TestApp> {
  const database = existing ?? (await createTestDatabase(dialect));
  const config = loadConfig({
    BERTH_DATA_DIR: database.dataDir,
    DATABASE_URL: database.config.dialect === 'mysql' ? database.config.url : `sqlite:${database.config.url}`,
    BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD,
    BERTH_LOG_LEVEL: process.env.BERTH_TEST_LOG ?? 'silent',
    PORT: '8080',
    ...env,
  });
  const wired = await wireServices(config, createLogger(config.logLevel), wire);
  const app = createApp(wired.services);
  const t: TestApp = {
    app,
    services: wired.services,
    db: wired.db,
    dialect: wired.dialect,
    config,
    database,
    generatedAdminPassword: wired.generatedAdminPassword,
    // Every /api/v1 answer the suite receives is checked against the OpenAPI document: a mismatch fails the test.
    async req(path, init = {}) {
      const res = await app.request(path, requestInit(init));
      await responseChecker().check((init.method ?? 'GET').toUpperCase(), path, res);
      return res;
    },
    async close(opts = {}) {
      await wired.close();
      if (opts.drop) await database.drop();
    },
    async restart() {
      await wired.close();
      return startTestApp(dialect, env, database);
    },
  };
  return t;
}

export const ADMIN: [string, string] = ['admin', ADMIN_PASSWORD];

/** Creates a user through the API as admin and returns its credentials. */
export async function createUser(t: TestApp, username: string, password = `${username}-pw-123`): Promise<[string, string]> {
  const res = await t.req('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username, password } });
  if (res.status !== 201) throw new Error(`creating ${username}: ${res.status} ${await res.text()}`);
  return [username, password];
}

/** A small cookie jar for driving the UI through app.request. */
export class Browser {
  private cookies = new Map<string, string>();
  constructor(private readonly t: TestApp) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await this.t.app.request(path, { ...init, headers, redirect: 'manual' });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair!.indexOf('=');
      const k = pair!.slice(0, i);
      const v = pair!.slice(i + 1);
      if (/max-age=0/i.test(sc) || v === '') this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    return res;
  }

  post(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
    return this.fetch(path, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  }

  async login(username: string, password: string): Promise<Response> {
    const page = await (await this.fetch('/login')).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    return this.post('/login', { _csrf: csrf, username, password, next: '/' });
  }

  /** The session's CSRF token, read from a rendered page. */
  async csrf(): Promise<string> {
    const html = await (await this.fetch('/account/password')).text();
    return /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
  }
}
