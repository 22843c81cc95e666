import { hash, randomBytes } from 'node:crypto';

/**
 * A short-lived memory of verified credentials, so the token path does not pay for verification on every request
 * (`docker` asks for a token per operation). Keys are a SHA-256 of a per-process random 256-bit key, the name and the
 * secret (one-shot `crypto.hash`: a fifth of an HMAC object's cost on the token path), so the map never holds anything
 * that could be replayed or cracked; it is bounded and cleared when full.
 */
export class CredentialCache<T> {
  private readonly key = randomBytes(32).toString('hex');
  private readonly entries = new Map<string, { value: T; until: number }>();
  /** moves on every {@link clear}: a verification that began before a clear must not be remembered after it */
  epoch = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  private id(name: string, secret: string): string {
    // the name's length first: no other (name, secret) pair concatenates to the same text
    return hash('sha256', `${this.key}\0${name.length}\0${name}\0${secret}`, 'base64url');
  }

  get(name: string, secret: string): T | undefined {
    const hit = this.entries.get(this.id(name, secret));
    return hit && hit.until > Date.now() ? hit.value : undefined;
  }

  /** Remembers `value`; with `epoch` (read before verifying) only if the cache was not cleared meanwhile. */
  set(name: string, secret: string, value: T, epoch?: number): void {
    if (epoch !== undefined && epoch !== this.epoch) return;
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(this.id(name, secret), { value, until: Date.now() + this.ttlMs });
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
  }
}
