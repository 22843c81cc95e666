import fs from 'node:fs';
import { isIP } from 'node:net';
import type { LdapMemberAttr, LdapScope } from './provider-grammar.js';
import { Client, escapeFilter, InvalidCredentialsError, NoSuchObjectError, type Entry } from 'ldapts';

/** LDAP settings as stored in the `auth` system setting (the bind password travels separately). */
export interface LdapSettings {
  url: string;
  startTls: boolean;
  caFile: string | null;
  bindDn: string | null;
  baseDn: string;
  scope: LdapScope;
  filter: string;
  uidAttr: string;
  groupBaseDn: string | null;
  groupFilter: string;
  groupMemberAttr: LdapMemberAttr;
  adminGroup: string | null;
  /** per operation and for connecting, milliseconds */
  timeoutMs: number;
}

/** Node's codes for a failed TLS handshake or certificate check (OpenSSL's verify errors and node's own TLS errors). */
const TLS_ERROR_CODE = /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$)/;

/**
 * ldapts's own timeouts (`connectTimeout`, `timeout`) reject with a plain Error and no code: `Connection timeout`, or
 * `<Request>: Operation timed out`. Its two messages are the only way to tell them, so they are matched exactly here,
 * once, at the library's edge (ldapts src/Client.ts).
 */
function isLdaptsTimeout(err: unknown): boolean {
  if (!(err instanceof Error) || (err as { code?: unknown }).code !== undefined) return false;
  return err.message === 'Connection timeout' || /^\w+: Operation timed out$/.test(err.message);
}

/** What went wrong, so callers can tell a wrong password (401) from an unreachable or misconfigured server (503). */
export class LdapFailure extends Error {
  constructor(
    readonly kind: 'invalid_credentials' | 'unreachable' | 'misconfigured',
    message: string,
  ) {
    super(message);
  }
}

/** A directory user: their DN, canonical username (the uid attribute's value), email, and groups (DNs and names). */
export interface LdapUser {
  dn: string;
  username: string;
  email: string | null;
  /** group DNs and their names (first RDN value), deduplicated */
  groups: string[];
  isAdmin: boolean;
}

// One bound on what a search may return: a user belongs to at most this many groups we look at.
const MAX_GROUPS = 500;

/** The first RDN's value of a DN: `cn=team-a,ou=groups,…` → `team-a`. */
export function rdnValue(dn: string): string {
  const m = /^[^=,]+=((?:\\.|[^,\\])*)/.exec(dn);
  return m ? m[1]!.replace(/\\(.)/g, '$1').trim() : dn;
}

const attr = (e: Entry, name: string): string[] => {
  const key = Object.keys(e).find((k) => k.toLowerCase() === name.toLowerCase());
  const v = key ? e[key] : undefined;
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
};

/** True when `group` names one of the groups (DNs compare case-insensitively, names exactly). */
export function inGroup(groups: readonly string[], group: string | null): boolean {
  if (!group) return false;
  const g = group.toLowerCase();
  return groups.some((x) => x === group || (x.includes('=') && x.toLowerCase() === g));
}

/**
 * One LDAP conversation per call (connect, optional StartTLS, bind, search, unbind), with timeouts on connecting and on
 * every operation. Every value from outside goes into filters through ldapts' RFC 4515 `escapeFilter`, so a username
 * like `*` or `)(uid=*` matches only itself.
 */
export class LdapDirectory {
  constructor(
    private readonly s: LdapSettings,
    private readonly bindPassword: string | undefined,
  ) {}

  private async open(): Promise<Client> {
    const tlsOptions = this.s.caFile ? { ca: fs.readFileSync(this.s.caFile), minVersion: 'TLSv1.2' as const } : { minVersion: 'TLSv1.2' as const };
    const secure = this.s.url.toLowerCase().startsWith('ldaps:');
    // tlsOptions only for ldaps:// (StartTLS gets them at the upgrade): ldapts would otherwise speak TLS on ldap://.
    const client = new Client({ url: this.s.url, timeout: this.s.timeoutMs, connectTimeout: this.s.timeoutMs, ...(secure ? { tlsOptions } : {}) });
    try {
      if (this.s.startTls && !secure) {
        // The upgraded socket must check the certificate against the host we dialled (ldapts would say "localhost").
        const host = new URL(this.s.url).hostname.replace(/^\[|\]$/g, '');
        await client.startTLS({ ...tlsOptions, host, ...(isIP(host) ? {} : { servername: host }) });
      }
      if (this.s.bindDn) await client.bind(this.s.bindDn, this.bindPassword ?? '');
    } catch (err) {
      await client.unbind().catch(() => undefined);
      if (err instanceof InvalidCredentialsError) throw new LdapFailure('misconfigured', 'the LDAP service account (bind DN and password) was refused');
      throw this.transport(err);
    }
    return client;
  }

  private transport(err: unknown): LdapFailure {
    if (err instanceof LdapFailure) return err;
    if (err instanceof NoSuchObjectError) return new LdapFailure('misconfigured', `LDAP base DN not found: ${err.message}`);
    const e = err as { code?: string; message?: string };
    if (e.code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|ENETUNREACH)$/.test(e.code)) {
      return new LdapFailure('unreachable', `the LDAP server ${this.s.url} is unreachable (${e.code})`);
    }
    if (isLdaptsTimeout(err)) return new LdapFailure('unreachable', `the LDAP server ${this.s.url} did not answer in ${this.s.timeoutMs} ms`);
    if (e.code && TLS_ERROR_CODE.test(e.code)) return new LdapFailure('misconfigured', `TLS with the LDAP server failed: ${e.message} (${e.code})`);
    return new LdapFailure('misconfigured', `LDAP error: ${e.message ?? String(err)}`);
  }

  private userFilter(username: string): string {
    return `(&${this.s.filter}(${this.s.uidAttr}=${escapeFilter`${username}`}))`;
  }

  private async findUser(client: Client, username: string): Promise<Entry | undefined> {
    const attributes = [this.s.uidAttr, 'mail', ...(this.s.groupMemberAttr === 'memberOf' ? ['memberOf'] : [])];
    const { searchEntries } = await client.search(this.s.baseDn, { scope: this.s.scope, filter: this.userFilter(username), attributes, sizeLimit: 2, timeLimit: Math.ceil(this.s.timeoutMs / 1000) });
    // Two entries for one username: refuse rather than pick one.
    if (searchEntries.length !== 1) return undefined;
    return searchEntries[0];
  }

  private async groupsOf(client: Client, user: Entry, username: string): Promise<string[]> {
    let dns: string[];
    if (this.s.groupMemberAttr === 'memberOf') {
      dns = attr(user, 'memberOf');
    } else {
      if (!this.s.groupBaseDn) return [];
      const value = this.s.groupMemberAttr === 'memberUid' ? username : user.dn;
      const filter = `(&${this.s.groupFilter}(${this.s.groupMemberAttr}=${escapeFilter`${value}`}))`;
      const { searchEntries } = await client.search(this.s.groupBaseDn, { scope: this.s.scope, filter, attributes: ['cn'], sizeLimit: MAX_GROUPS, timeLimit: Math.ceil(this.s.timeoutMs / 1000) });
      dns = searchEntries.map((e) => e.dn);
    }
    const out = new Set<string>();
    for (const dn of dns.slice(0, MAX_GROUPS)) {
      if (dn.length <= 255) out.add(dn);
      const name = rdnValue(dn);
      if (name && name.length <= 255) out.add(name);
    }
    return [...out];
  }

  /**
   * Checks a username and password against the directory and reads the user's groups. With `passwordKnownGood`
   * (the same credentials were verified moments ago) the user bind is skipped, but the user and the groups are still
   * read, so a removal from a group takes effect at once. Throws LdapFailure.
   */
  async authenticate(username: string, password: string, opts: { passwordKnownGood?: boolean } = {}): Promise<LdapUser> {
    // An empty password would be an "unauthenticated bind", which servers accept without checking anything.
    if (!password) throw new LdapFailure('invalid_credentials', 'invalid username or password');
    const client = await this.open();
    try {
      const entry = await this.findUser(client, username);
      if (!entry) throw new LdapFailure('invalid_credentials', 'invalid username or password');
      if (!opts.passwordKnownGood) {
        try {
          await client.bind(entry.dn, password);
        } catch (err) {
          if (err instanceof InvalidCredentialsError) throw new LdapFailure('invalid_credentials', 'invalid username or password');
          throw err;
        }
        // Read the groups with the service account's rights, as configured, not the user's.
        if (this.s.bindDn) await client.bind(this.s.bindDn, this.bindPassword ?? '');
      }
      const canonical = attr(entry, this.s.uidAttr)[0] ?? username;
      const groups = await this.groupsOf(client, entry, canonical);
      return { dn: entry.dn, username: canonical, email: attr(entry, 'mail')[0] ?? null, groups, isAdmin: inGroup(groups, this.s.adminGroup) };
    } catch (err) {
      throw this.transport(err);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** Connects and binds with the service account, and reads the base DN: for the "test connection" action. */
  async testConnection(): Promise<void> {
    const client = await this.open();
    try {
      await client.search(this.s.baseDn, { scope: 'base', filter: '(objectClass=*)', attributes: ['dn'], sizeLimit: 1 });
    } catch (err) {
      throw this.transport(err);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** Looks a user up without their password: DN and groups, for the "test user" action. */
  async lookup(username: string): Promise<LdapUser | null> {
    const client = await this.open();
    try {
      const entry = await this.findUser(client, username);
      if (!entry) return null;
      const canonical = attr(entry, this.s.uidAttr)[0] ?? username;
      const groups = await this.groupsOf(client, entry, canonical);
      return { dn: entry.dn, username: canonical, email: attr(entry, 'mail')[0] ?? null, groups, isAdmin: inGroup(groups, this.s.adminGroup) };
    } catch (err) {
      throw this.transport(err);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
}
