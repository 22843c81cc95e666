import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CredentialCache } from '../auth/credential-cache.js';
import { LdapDirectory, LdapFailure, type LdapUser } from '../auth/ldap.js';
import { usernameProblem } from '../auth/names.js';
import type { DB } from '../db/connect.js';
import { pageUserGroups, replaceUserGroups } from '../db/repos/groups.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import { findUserAccountById, findUserAccountByName, insertUser, updateUser, type User, type UserAccount, type UserPatch } from '../db/repos/users.js';
import * as sessions from '../db/repos/sessions.js';
import { AppError, badRequest, isUniqueViolation } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccountService } from './account-service.js';
import type { AuditService } from './audit-service.js';
import type { AuthSettingsService } from './auth-settings-service.js';

// Verified directory passwords are remembered this long (HMAC-keyed, in memory only, never stored): within it the
// user bind is skipped, but the user and their groups are still read, so leaving a group takes effect at once.
const LDAP_CACHE_TTL_MS = 60_000;
// A hash no scrypt/sha256 output can equal: directory users have no local password.
const NO_PASSWORD = '!directory';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** An identity a directory vouched for, about to become (or refresh) a Berth user. */
export interface DirectoryIdentity {
  source: 'ldap' | 'oidc';
  /** LDAP DN, or `issuer|sub` for OIDC */
  externalId: string;
  username: string;
  email: string | null;
  groups: string[];
  /** true/false when the directory decides (an admin group is configured), null to leave the flag as it is */
  isAdmin: boolean | null;
}

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** The profile alone: what sign-in returns (never the secret hash or the directory binding). */
const userOf = ({ externalId: _e, cliSecretHash: _c, ...user }: UserAccount): User => user;

/**
 * Who may sign in, by the configured mode: `db` (local passwords), `ldap` (directory bind; users created on first
 * sign-in, groups refreshed at every one), `oidc` (browser flow; CLI secrets or ID tokens for docker). The local
 * `admin` always signs in with its local password, whatever the mode, as the break-glass account.
 */
export class IdentityService {
  private readonly ldapVerified = new CredentialCache<string>(LDAP_CACHE_TTL_MS);
  /** OIDC ID-token-as-password, plugged in by the OIDC service */
  idTokenVerifier?: (username: string, token: string) => Promise<DirectoryIdentity | undefined>;

  constructor(
    private readonly db: DB,
    private readonly log: Logger,
    private readonly accounts: AccountService,
    readonly settings: AuthSettingsService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Checks Basic or form credentials by the current mode. Returns the user; throws UNAUTHORIZED (wrong credentials,
   * counted by the lockout), TOO_MANY_REQUESTS, or UNAVAILABLE (the directory is down or misconfigured: not counted).
   */
  async authenticate(username: string, password: string, clientIp: string): Promise<User> {
    const mode = await this.settings.mode();
    if (mode === 'db' || username === 'admin') return this.accounts.authenticate(username, password, clientIp);
    if (mode === 'ldap') return this.accounts.withLockout(username, clientIp, () => this.ldapCheck(username, password));
    // A matching CLI secret (one read, one SHA-256) may answer first, uncounted, while nothing is counted for the key:
    // docker logins of OIDC users then write nothing, as cached local passwords do. Wrong ones are counted as always.
    return this.accounts.withLockout(username, clientIp, () => this.oidcPasswordCheck(username, password), { remembered: () => this.cliSecretCheck(username, password) });
  }

  private async directory(): Promise<LdapDirectory> {
    const ldap = await this.settings.ldap();
    if (!ldap) throw new AppError('UNAVAILABLE', 'LDAP sign-in is not configured: a system admin must set the LDAP URL and base DN');
    return new LdapDirectory(ldap.settings, ldap.bindPassword);
  }

  private async ldapCheck(username: string, password: string): Promise<User | undefined> {
    if (!username || username.length > 255 || CONTROL.test(username) || password.length > 1024) return undefined;
    const dir = await this.directory();
    const known = this.ldapVerified.get(username, password);
    let u: LdapUser;
    try {
      u = await dir.authenticate(username, password, { passwordKnownGood: known !== undefined });
    } catch (err) {
      if (err instanceof LdapFailure && err.kind === 'invalid_credentials') return undefined;
      const message = err instanceof LdapFailure ? err.message : 'LDAP error';
      this.log.warn({ err: message }, 'LDAP sign-in failed');
      throw new AppError('UNAVAILABLE', `sign-in through LDAP is not possible right now: ${message}`);
    }
    if (known !== undefined && known !== u.dn) this.ldapVerified.clear();
    else this.ldapVerified.set(username, password, u.dn);
    const adminGroup = (await this.settings.ldap())?.settings.adminGroup;
    return this.provision({ source: 'ldap', externalId: u.dn, username: u.username, email: u.email, groups: u.groups, isAdmin: adminGroup ? u.isAdmin : null });
  }

  /** The user whose OIDC CLI secret `password` is, else undefined. */
  private async cliSecretCheck(username: string, password: string): Promise<User | undefined> {
    if (!username || username.length > 255 || password.length > 256) return undefined;
    const account = await findUserAccountByName(this.db, username);
    if (account && !account.disabled && account.authSource === 'oidc' && account.cliSecretHash) {
      const given = Buffer.from(sha256hex(password), 'hex');
      const stored = Buffer.from(account.cliSecretHash, 'hex');
      if (given.length === stored.length && timingSafeEqual(given, stored)) return userOf(account);
    }
    return undefined;
  }

  private async oidcPasswordCheck(username: string, password: string): Promise<User | undefined> {
    if (!username || username.length > 255 || password.length > 16384) return undefined;
    const bySecret = await this.cliSecretCheck(username, password);
    if (bySecret) return bySecret;
    // Optionally, an ID token from the provider (CI systems that hold one); it refreshes the groups.
    if (this.idTokenVerifier && password.split('.').length === 3) {
      const identity = await this.idTokenVerifier(username, password);
      if (identity) return this.provision(identity);
    }
    return undefined;
  }

  /**
   * Creates the Berth user for a directory identity on first sign-in, or refreshes it: email, admin flag (when the
   * directory decides), groups. A local user of the same name is taken over (the admin chose the directory), except
   * `admin`; an OIDC account bound to another subject is refused (someone else with the same username claim).
   * Throws UNAUTHORIZED with the reason.
   */
  async provision(id: DirectoryIdentity): Promise<User> {
    const problem = usernameProblem(id.username);
    if (problem) throw new AppError('UNAUTHORIZED', `the directory's username "${id.username.slice(0, 64)}" cannot be used in Berth: ${problem}`);
    if (id.username === 'admin') throw new AppError('UNAUTHORIZED', '"admin" is the local break-glass account and cannot sign in through a directory');
    const now = Date.now();
    let row: UserAccount | undefined = await findUserAccountByName(this.db, id.username);
    if (!row) {
      try {
        await insertUser(this.db, {
          username: id.username,
          email: id.email?.slice(0, 255) ?? null,
          passwordHash: NO_PASSWORD,
          isAdmin: !!id.isAdmin,
          createdAt: now,
          authSource: id.source,
          externalId: id.externalId.slice(0, 512),
        });
        await this.audit.record({ name: id.username, ip: '-' }, 'provision', 'user', id.username, { source: id.source });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err; // a concurrent first sign-in created it
      }
      row = (await findUserAccountByName(this.db, id.username))!;
    } else {
      if (row.authSource === 'oidc' && id.source === 'oidc' && row.externalId && row.externalId !== id.externalId) {
        throw new AppError('UNAUTHORIZED', `user "${id.username}" belongs to another identity of the provider`);
      }
      if (row.authSource !== id.source || row.externalId !== id.externalId) {
        await updateUser(this.db, row.id, { authSource: id.source, externalId: id.externalId.slice(0, 512), passwordHash: NO_PASSWORD });
        if (row.authSource !== id.source) {
          await sessions.deleteUserSessions(this.db, row.id);
          await this.audit.record({ name: id.username, ip: '-' }, 'adopt', 'user', id.username, { from: row.authSource, to: id.source });
        }
      }
    }
    if (row.disabled) throw new AppError('UNAUTHORIZED', 'invalid username or password');
    const patch: UserPatch = {};
    if (id.email && id.email !== row.email) patch.email = id.email.slice(0, 255);
    if (id.isAdmin !== null && row.isAdmin !== id.isAdmin) patch.isAdmin = id.isAdmin;
    if (Object.keys(patch).length) await updateUser(this.db, row.id, patch);
    await replaceUserGroups(
      this.db,
      row.id,
      [...new Set(id.groups)].filter((g) => g.length > 0 && g.length <= 255 && !CONTROL.test(g)),
      now,
    );
    return userOf((await findUserAccountById(this.db, row.id))!);
  }

  /** A page of the groups `userId` had at their last sign-in, by name. */
  async groupsOf(userId: number, req: PageRequest): Promise<KeysetPage<string>> {
    return pageUserGroups(this.db, userId, req);
  }

  /** A new CLI secret for an OIDC user (shown once); the previous one stops working at once. */
  async regenerateCliSecret(userId: number): Promise<string> {
    const account = await findUserAccountById(this.db, userId);
    if (account?.authSource !== 'oidc') throw badRequest('CLI secrets are for users who sign in through OIDC');
    const secret = randomBytes(24).toString('base64url');
    await updateUser(this.db, userId, { cliSecretHash: sha256hex(secret) });
    await this.audit.record({ name: account.username, ip: '-' }, 'refresh_cli_secret', 'user', account.username);
    return secret;
  }

  /** The "test connection" action: ok, or the reason. */
  async testLdapConnection(): Promise<{ ok: boolean; message: string }> {
    try {
      await (await this.directory()).testConnection();
      return { ok: true, message: 'connected, bound and read the base DN' };
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
  }

  /** The "test user" action: the user's DN and groups as Berth would see them, without signing in. */
  async testLdapUser(username: string): Promise<{ ok: boolean; message: string; user?: LdapUser }> {
    if (!username || username.length > 255 || CONTROL.test(username)) return { ok: false, message: 'give a username' };
    try {
      const u = await (await this.directory()).lookup(username);
      return u ? { ok: true, message: `found ${u.dn}`, user: u } : { ok: false, message: `no single user "${username}" under the base DN with the filter` };
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
  }
}
