import type { Action } from '../auth/rbac.js';
import type { Principal, RobotAction } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import { onLocalBump, readGenerations } from '../db/repos/generations.js';
import { findProjectByName, type Project } from '../db/repos/projects.js';
import { findRobotByName, listRobotGrants } from '../db/repos/robots.js';
import { findUserByName } from '../db/repos/users.js';
import { INTERNAL_SUBJECTS } from '../registry/constants.js';
import type { Authorizer } from './authorizer.js';

/** Who a token's `sub` is right now, as the database says. */
export type LivePrincipal = { kind: 'internal'; name: string } | { principal: Principal; kind: 'principal'; createdAt: number; expiresAt: number | null };

/** How stale the /v2 path may see permissions: every change is seen by every replica within this time. */
export const V2_MAX_STALENESS_MS = 500;
/** Cached entries are dropped after this even if no change was seen (a safety net, not the mechanism). */
const ENTRY_TTL_MS = 30_000;
const MAX_ENTRIES = 20_000;

interface Entry<T> {
  value: T;
  at: number;
}

/**
 * Live permissions for the `/v2` path and the token service, cached per process and invalidated across replicas by
 * the shared `access` change counter (`cache_generations`), which every repo write to users, robots, members and
 * projects moves. Callers say how stale they may be: the token endpoint and each `/v2` request read the counter (one
 * primary-key lookup) at most every {@link V2_MAX_STALENESS_MS}, and a change this process makes clears the caches at
 * once. Harbor re-checks permissions per request in the same way (src/server/middleware/v2auth).
 */
export class RegistryAccess {
  private generation = -1;
  private checkedAt = 0;
  private inflight: Promise<void> | null = null;
  private readonly projects = new Map<string, Entry<Project | null>>();
  private readonly principals = new Map<string, Entry<LivePrincipal | null>>();
  private readonly decisions = new Map<string, Entry<boolean>>();
  private readonly clearListeners: (() => void)[] = [];

  constructor(
    private readonly db: DB,
    private readonly authz: Authorizer,
  ) {
    // A change made by this process is seen at once here: drop the caches and read the counter on the next request.
    onLocalBump(db, () => {
      this.clear();
      this.checkedAt = 0;
    });
  }

  /** Drops the caches if the shared counter moved since it was last read more than `maxAgeMs` ago. */
  async refresh(maxAgeMs: number): Promise<void> {
    if (Date.now() - this.checkedAt <= maxAgeMs && this.generation >= 0) return;
    this.inflight ??= (async () => {
      try {
        const g = (await readGenerations(this.db)).get('access') ?? 0;
        if (g !== this.generation) this.clear();
        this.generation = g;
        this.checkedAt = Date.now();
      } finally {
        this.inflight = null;
      }
    })();
    await this.inflight;
  }

  /** Forgets everything (this process only); the next read goes to the database. */
  clear(): void {
    this.projects.clear();
    this.principals.clear();
    this.decisions.clear();
    for (const fn of this.clearListeners) fn();
  }

  /** `fn` runs whenever these caches are cleared: a cache derived from the same permissions (robot credentials) goes with them. */
  onClear(fn: () => void): void {
    this.clearListeners.push(fn);
  }

  /** The project by name, or null when it does not exist. */
  async project(name: string): Promise<Project | null> {
    return this.cached(this.projects, name, async () => (await findProjectByName(this.db, name)) ?? null);
  }

  /**
   * The principal a token subject names today: `''` is anonymous, core's own subjects are internal, `robot$…` a
   * robot, anything else a user. Null when the user or robot no longer exists or is disabled.
   */
  async principal(sub: string): Promise<LivePrincipal | null> {
    if (sub === '') return { kind: 'principal', principal: { kind: 'anonymous' }, createdAt: 0, expiresAt: null };
    if (INTERNAL_SUBJECTS.has(sub)) return { kind: 'internal', name: sub };
    return this.cached(this.principals, sub, async (): Promise<LivePrincipal | null> => {
      if (sub.startsWith('robot$')) {
        const r = await findRobotByName(this.db, sub);
        if (!r || r.disabled) return null;
        const grants = await listRobotGrants(this.db, r.id);
        const permissions = new Map(grants.map((g) => [g.projectId, new Set<RobotAction>(g.actions)]));
        return { kind: 'principal', principal: { kind: 'robot', id: r.id, name: r.name, permissions }, createdAt: r.createdAt, expiresAt: r.expiresAt };
      }
      const u = await findUserByName(this.db, sub);
      if (!u || u.disabled) return null;
      return { kind: 'principal', principal: { kind: 'user', id: u.id, name: u.username, isAdmin: u.isAdmin }, createdAt: u.createdAt, expiresAt: null };
    });
  }

  /** Whether the principal may do `action` in `project` now (cached like the rest). */
  async can(p: Principal, action: Action, project: Project): Promise<boolean> {
    const key = `${p.kind === 'anonymous' ? '' : p.name}\u0000${project.id}\u0000${action}`;
    return this.cached(this.decisions, key, () => this.authz.can(p, action, project));
  }

  private async cached<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = map.get(key);
    if (hit && now - hit.at < ENTRY_TTL_MS) return hit.value;
    const gen = this.generation;
    const value = await load();
    // A change seen while loading makes this value suspect: use it once, do not keep it.
    if (gen === this.generation) {
      if (map.size >= MAX_ENTRIES) map.clear();
      map.set(key, { value, at: now });
    }
    return value;
  }
}
