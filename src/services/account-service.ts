import { announceLocalBump } from '../db/repos/generations.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CredentialCache } from '../auth/credential-cache.js';
import type { DB } from '../db/connect.js';
import type { PageRequest } from '../paging.js';
import * as sessions from '../db/repos/sessions.js';
import { findUserLocale, setUserLocale } from '../db/repos/preferences.js';
import { getSetting, putSetting } from '../db/repos/settings.js';
import { deleteUser, findUserById, findUserByName, findUserCredentialsById, findUserCredentialsByName, insertUser, listUsers, profileOf, updateUser, type User } from '../db/repos/users.js';
import { AppError, badRequest, conflict, fromProblem, isUniqueViolation, notFound, problem } from '../errors.js';
import { generatePassword, hashPassword, passwordProblem, verifyPassword } from '../auth/passwords.js';
import { usernameProblem } from '../auth/names.js';
import type { Logger } from '../log.js';
import type { Principal } from '../auth/principal.js';

export type { User };

/**
 * Password checks per (username, client address) that may run in one window (each counted before it runs; a success
 * clears the count), the window's length, and how long the key is then locked (ms).
 */
export const LOGIN_POLICY = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 } as const;
/**
 * How long a fresh lock may still be the last places taken by checks in flight (a password hash, a directory bind):
 * a refused request waits up to this for them to end before its refusal is final.
 */
const LOCK_SETTLE_MS = 3000;

// Verified Basic credentials are remembered for a minute so API scripts and `docker` (one token request per
// operation) do not pay ~60 ms of scrypt per call; a hit counts only while the stored hash is unchanged, so a
// password change or disable takes effect at once.
const CRED_CACHE_TTL_MS = 60_000;

export interface Session {
  id: string;
  userId: number;
  csrfToken: string;
}

/** System setting naming the account that still has the password generated at first start: `{"userId": n}`. */
const GENERATED_PASSWORD_SETTING = 'admin_generated_password';

export class AccountService {
  private readonly verified = new CredentialCache<string>(CRED_CACHE_TTL_MS);

  constructor(
    private readonly db: DB,
    private readonly log: Logger,
    private readonly sessionTtlMs: number,
  ) {}

  /**
   * Creates `admin` on first start, with `initialPassword` when one is configured. Without one it generates a password
   * and hands it to `announce` (the start-up banner) inside the transaction that creates the account, before the
   * commit: a generated password is never stored without having been shown, so no later failure of the start (or a
   * crash) can leave an admin whose password nobody knows. When `announce` throws, nothing is stored and the error
   * propagates; a crash between `announce` and the commit stores nothing either, and the next start generates and
   * announces a new one. Until its password is changed the account is remembered as still having the generated one
   * (see {@link hasGeneratedPassword}). Returns the generated password, else null (configured, or `admin` exists,
   * also when another replica created it first).
   */
  async ensureAdmin(initialPassword: string | undefined, announce: (password: string) => void = () => {}): Promise<string | null> {
    if (await findUserByName(this.db, 'admin')) return null;
    if (initialPassword !== undefined) {
      try {
        await this.createUser({ username: 'admin', password: initialPassword, isAdmin: true });
      } catch (err) {
        if (err instanceof AppError && err.code === 'CONFLICT') return null; // another replica won the race
        throw err;
      }
      return null;
    }
    const password = generatePassword();
    const passwordHash = await hashPassword(password);
    try {
      await this.db.transaction().execute(async (trx) => {
        const id = await insertUser(trx, { username: 'admin', email: null, passwordHash, isAdmin: true, createdAt: Date.now() });
        await putSetting(trx, GENERATED_PASSWORD_SETTING, { userId: id });
        announce(password);
      });
      announceLocalBump(this.db, 'access');
    } catch (err) {
      if (isUniqueViolation(err)) return null; // another replica won the race (and announced its own)
      throw err;
    }
    return password;
  }

  /** True while the user still signs in with the password Berth generated at first start (one DB read). */
  async hasGeneratedPassword(userId: number): Promise<boolean> {
    return (await getSetting<{ userId?: number }>(this.db, GENERATED_PASSWORD_SETTING))?.userId === userId;
  }

  async createUser(input: { username: string; password: string; email?: string | null; isAdmin?: boolean }): Promise<User> {
    const problems = [usernameProblem(input.username), passwordProblem(input.password)].filter((x) => x !== null);
    if (input.username.startsWith('robot$')) problems.push(problem('usernames may not start with robot$', 'username_robot_prefix'));
    if (problems.length)
      throw badRequest(
        problems.map((x) => x.message).join('; '),
        undefined,
        problems.map((x) => x.ui),
      );
    const now = Date.now();
    try {
      const id = await insertUser(this.db, {
        username: input.username,
        email: input.email ?? null,
        passwordHash: await hashPassword(input.password),
        isAdmin: !!input.isAdmin,
        createdAt: now,
      });
      return (await this.getUser(id))!;
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`user "${input.username}" already exists`, { key: 'user_exists', params: { name: input.username } });
      throw err;
    }
  }

  async getUser(id: number): Promise<User | undefined> {
    return findUserById(this.db, id);
  }

  async getUserByName(username: string): Promise<User | undefined> {
    return findUserByName(this.db, username);
  }

  listUsers(opts: { q?: string; page: PageRequest }) {
    return listUsers(this.db, opts);
  }

  /**
   * Checks a username and password with rate limiting per (canonical username, client address).
   * Returns the user, or throws UNAUTHORIZED (also while locked out, with the same message, so a lockout
   * reveals nothing about the password) or TOO_MANY_REQUESTS when locked.
   *
   * A name outside the username grammar is refused before any lookup: MariaDB compares `varchar` with PAD SPACE,
   * so `victim ` would otherwise find `victim` under a fresh lockout key. The lockout key is the name as stored.
   * The password hash always runs (against a dummy hash for unknown, disabled or locked accounts) before the
   * account's state is looked at, so the answer time says nothing about which case it was.
   */
  async authenticate(username: string, password: string, clientIp: string): Promise<User> {
    if (usernameProblem(username) !== null) throw new AppError('UNAUTHORIZED', 'invalid username or password', undefined, { key: 'bad_credentials' });
    const row = await findUserCredentialsByName(this.db, username);
    // Only the exact stored name is this account (a case-insensitive or padding collation must not widen it).
    const user = row && row.username === username ? row : undefined;
    const hashAnyway = () => verifyPassword(password, user?.passwordHash ?? DUMMY_HASH).then(() => undefined);
    return this.withLockout(
      username,
      clientIp,
      async () => {
        if (!user || user.disabled) return hashAnyway();
        const ok = this.cachedMatch(username, password, user.passwordHash) || (await this.checkAndCache(username, password, user.passwordHash));
        return ok ? profileOf(user) : undefined;
      },
      {
        canonical: user?.username,
        onLocked: hashAnyway,
        remembered: () => (user && !user.disabled && this.cachedMatch(username, password, user.passwordHash) ? profileOf(user) : undefined),
      },
    );
  }

  /**
   * The lockout policy around any credential check (local passwords, LDAP, OIDC CLI secrets), per (username, client
   * address): `check` returns the user, or undefined for wrong credentials (UNAUTHORIZED), or throws. Throws
   * TOO_MANY_REQUESTS while locked.
   *
   * Every check is counted before it runs, by one conditional update in the database (see
   * {@link sessions.reserveLoginAttempt}), so at most `LOGIN_POLICY.maxFailures` checks run per window and key however
   * many requests arrive at once, on however many replicas; the rest wait while the lock is fresh (the places may be
   * held by right passwords still being checked, {@link LOCK_SETTLE_MS}) and are refused unchecked if it stands. A success clears the
   * count; UNAVAILABLE from `check` (a directory that is down: nothing was verified) gives the attempt back; any other
   * error keeps it counted. `remembered` is a cheap check consulted first (the credential cache; an OIDC CLI secret):
   * its success is taken without any write when the key has no attempt counted in the current window, read after it
   * answered, so such a success is ordered before every counted guess and a lockout cannot be bypassed through it;
   * otherwise, and for anything it does not confirm, the counted path decides.
   *
   * Names outside the username grammar (which every Berth user name follows) are refused before anything is looked
   * up. The lockout key is the canonical name: the stored one when known, else the name in lower case, so padded or
   * re-cased spellings that a database collation or a directory treats as the same person share one lockout. Unknown
   * names are counted like known ones (one row per key in the database, none in memory). `onLocked` runs before a
   * locked answer (the local check hashes, so a lockout costs the same time).
   */
  async withLockout(
    username: string,
    clientIp: string,
    check: () => Promise<User | undefined>,
    opts: { canonical?: string; onLocked?: () => Promise<unknown>; remembered?: () => User | undefined | Promise<User | undefined> } = {},
  ): Promise<User> {
    if (usernameProblem(username) !== null) throw new AppError('UNAUTHORIZED', 'invalid username or password', undefined, { key: 'bad_credentials' });
    const key = `${(opts.canonical ?? username.toLowerCase()).slice(0, 128)}|${clientIp.slice(0, 64)}`;
    const deadline = Date.now() + LOCK_SETTLE_MS;
    let now: number;
    let attempt: sessions.LoginAttempt;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      now = Date.now();
      const known = await opts.remembered?.();
      if (known && sessions.loginFailureClear(await sessions.findLoginFailure(this.db, key), now, LOGIN_POLICY)) return known;
      attempt = await sessions.reserveLoginAttempt(this.db, key, now, LOGIN_POLICY);
      if (attempt !== 'refused') break;
      // Places are taken before the checks run, so a refusal can mean only that the last places belong to checks still
      // running: concurrent requests with the right password (a CI job's parallel API calls), whose first success
      // clears the count. A lock younger than LOCK_SETTLE_MS is waited out (backing off) and the reservation tried
      // again; an older one, or one still there at the deadline, is final.
      const lockedAt = await sessions.findLoginLockedAt(this.db, key, LOGIN_POLICY);
      if ((lockedAt !== null && Date.now() - lockedAt >= LOCK_SETTLE_MS) || Date.now() + delay > deadline) {
        await opts.onLocked?.();
        throw new AppError('TOO_MANY_REQUESTS', 'too many failed logins: try again later', undefined, { key: 'login_locked' });
      }
      await new Promise((r) => setTimeout(r, delay));
    }
    let user: User | undefined;
    try {
      user = await check();
    } catch (err) {
      if (err instanceof AppError && err.code === 'UNAVAILABLE') await sessions.releaseLoginAttempt(this.db, key);
      throw err;
    }
    if (!user) {
      if (attempt === 'last') this.log.warn({ key: key.split('|')[0] }, 'login locked after repeated failures');
      if (Math.random() < 0.02) await sessions.deleteStaleLoginFailures(this.db, now, LOGIN_POLICY);
      throw new AppError('UNAUTHORIZED', 'invalid username or password', undefined, { key: 'bad_credentials' });
    }
    await sessions.deleteLoginFailure(this.db, key);
    return user;
  }

  private cachedMatch(username: string, password: string, storedHash: string): boolean {
    const hash = this.verified.get(username, password);
    if (hash === undefined) return false;
    const x = Buffer.from(hash);
    const y = Buffer.from(storedHash);
    return x.length === y.length && timingSafeEqual(x, y);
  }

  private async checkAndCache(username: string, password: string, storedHash: string): Promise<boolean> {
    if (!(await verifyPassword(password, storedHash))) return false;
    this.verified.set(username, password, storedHash);
    return true;
  }

  /**
   * Sets a new password and ends the user's other sessions. With `oldPassword` (one's own change) the current
   * password is checked under the login lockout of (user, `clientIp`), like a sign-in, so a stolen session cannot
   * be used to guess it: BAD_REQUEST when wrong, TOO_MANY_REQUESTS while locked.
   */
  async changePassword(userId: number, newPassword: string, opts: { oldPassword?: string; keepSessionId?: string; clientIp?: string } = {}): Promise<void> {
    const weak = passwordProblem(newPassword);
    if (weak) throw fromProblem('BAD_REQUEST', weak);
    const row = await findUserCredentialsById(this.db, userId);
    if (!row) throw notFound('user not found', { key: 'user_not_found' });
    const oldPassword = opts.oldPassword;
    if (oldPassword !== undefined) {
      try {
        await this.withLockout(row.username, opts.clientIp ?? 'unknown', async () => ((await verifyPassword(oldPassword, row.passwordHash)) ? profileOf(row) : undefined), {
          canonical: row.username,
        });
      } catch (err) {
        if (err instanceof AppError && err.code === 'UNAUTHORIZED') throw badRequest('current password is wrong', undefined, { key: 'password_wrong' });
        throw err;
      }
    }
    await updateUser(this.db, userId, { passwordHash: await hashPassword(newPassword) });
    if (await this.hasGeneratedPassword(userId)) await putSetting(this.db, GENERATED_PASSWORD_SETTING, null);
    await sessions.deleteUserSessions(this.db, userId, opts.keepSessionId);
  }

  /**
   * Disables or enables an account; disabling ends its sessions. `by` is who asks (null: the operator at the CLI): no one
   * disables their own account, so a system can never lose its last signed-in admin by a slip.
   */
  async setDisabled(by: Principal | null, userId: number, disabled: boolean): Promise<User> {
    if (disabled) refuseOwn(by, userId, 'you cannot disable yourself');
    if (!(await updateUser(this.db, userId, { disabled }))) throw notFound('user not found', { key: 'user_not_found' });
    if (disabled) await sessions.deleteUserSessions(this.db, userId);
    return (await this.getUser(userId))!;
  }

  /** Grants or takes the system admin flag; no one takes their own (`by` as for {@link setDisabled}). */
  async setAdmin(by: Principal | null, userId: number, isAdmin: boolean): Promise<User> {
    if (!isAdmin) refuseOwn(by, userId, 'you cannot drop your own admin flag');
    if (!(await updateUser(this.db, userId, { isAdmin }))) throw notFound('user not found', { key: 'user_not_found' });
    return (await this.getUser(userId))!;
  }

  /** Deletes an account; no one deletes their own (`by` as for {@link setDisabled}). */
  async deleteUser(by: Principal | null, userId: number): Promise<void> {
    refuseOwn(by, userId, 'you cannot delete yourself');
    if (!(await deleteUser(this.db, userId))) throw notFound('user not found', { key: 'user_not_found' });
  }

  // --- UI sessions: the cookie holds a random token; the DB holds only its SHA-256. ---

  async createSession(userId: number): Promise<{ token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url');
    const id = sha256(token);
    const csrfToken = randomBytes(24).toString('base64url');
    const now = Date.now();
    await sessions.insertSession(this.db, { id, userId, csrfToken, now, expiresAt: now + this.sessionTtlMs });
    if (Math.random() < 0.05) await sessions.deleteExpiredSessions(this.db, now);
    return { token, session: { id, userId, csrfToken } };
  }

  /** The session and its (enabled) user for a cookie token, or undefined. */
  async resolveSession(token: string): Promise<{ session: Session; user: User } | undefined> {
    if (!token || token.length > 128) return undefined;
    const s = await sessions.findSession(this.db, sha256(token), Date.now());
    if (!s) return undefined;
    const user = await this.getUser(Number(s.user_id));
    if (!user || user.disabled) return undefined;
    return { session: { id: s.id, userId: user.id, csrfToken: s.csrf_token }, user };
  }

  async endSession(sessionId: string): Promise<void> {
    await sessions.deleteSession(this.db, sessionId);
  }

  /** The user's chosen UI locale, or null (follow the browser). */
  async locale(userId: number): Promise<string | null> {
    return findUserLocale(this.db, userId);
  }

  /** Stores the user's UI locale; the caller checked it is a supported one (null clears the choice). */
  async setLocale(userId: number, locale: string | null): Promise<void> {
    await setUserLocale(this.db, userId, locale, Date.now());
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

// A valid hash of a random password, so unknown usernames cost the same scrypt as known ones.
const DUMMY_HASH = await hashPassword(randomBytes(16).toString('hex'));

/** Refuses an action on the account of the user asking (the same rule for the UI, REST and any other way in). */
function refuseOwn(by: Principal | null, userId: number, message: string): void {
  if (by?.kind === 'user' && by.id === userId) throw badRequest(message, undefined, { key: 'not_yourself' });
}
