import { problem, type Problem } from '../errors.js';
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// scrypt N=2^15, r=8, p=1: 32 MiB and ~60 ms per hash on this class of machine (OWASP's minimum is 2^17 / 8 / 1
// for 128 MiB; we trade some of that for login throughput and keep the parameters in the hash so they can grow).
const N = 1 << 15;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

const maxmem = (n: number, r: number) => 256 * n * r;

/** Hash in the form `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: maxmem(N, R) });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time check of a password against a stored hash; false for malformed hashes. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isInteger(n) || n < 2 || n > 1 << 20 || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length < 16) return false;
  const key = await scrypt(password, salt, expected.length, { N: n, r, p, maxmem: maxmem(n, r) });
  return timingSafeEqual(key, expected);
}

/** A strong random password for generated credentials (admin bootstrap). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** Shortest password a person may choose. */
export const PASSWORD_MIN = 8;
/** Longest password accepted: scrypt's cost does not grow with it, the request body does. */
export const PASSWORD_MAX = 256;

/** Password rules for people: long enough, not absurdly long (the forms state these same numbers). */
export function passwordProblem(password: string): Problem | null {
  if (password.length < PASSWORD_MIN) return problem(`password must be at least ${PASSWORD_MIN} characters`, 'password_short', { min: PASSWORD_MIN });
  if (password.length > PASSWORD_MAX) return problem(`password must be at most ${PASSWORD_MAX} characters`, 'password_long', { max: PASSWORD_MAX });
  return null;
}
