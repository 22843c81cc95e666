import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CredentialCache } from '../auth/credential-cache.js';
import { z } from 'zod';
import { isPathComponent } from '../auth/names.js';
import { REPO_ACTIONS } from '../auth/scopes.js';
import type { Principal, RobotAction } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import type { PageRequest } from '../paging.js';
import { findProjectByName } from '../db/repos/projects.js';
import * as repo from '../db/repos/robots.js';
import { badRequest, conflict, denied, isUniqueViolation, notFound, unauthorized } from '../errors.js';
import type { Actor, AuditService } from './audit-service.js';
import type { Authorizer } from './authorizer.js';
import { type RegistryAccess, V2_MAX_STALENESS_MS } from './registry-access.js';

export type { RobotRecord, RobotGrant } from '../db/repos/robots.js';

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

export const robotCreateSchema = z
  .object({
    name: z.string().min(1).max(64),
    description: z.string().max(1024).optional(),
    /** a project name: a project-level robot (`robot$<project>+<name>`); absent: system level (`robot$<name>`) */
    project: z.string().max(255).optional(),
    permissions: z
      .array(z.object({ project: z.string().min(1).max(255), actions: z.array(z.enum(REPO_ACTIONS)).min(1).max(3) }).strict())
      .min(1)
      .max(100),
    /** days until expiry; -1 or absent: never */
    duration_days: z.number().int().min(-1).max(3650).optional(),
  })
  .strict();

export const robotUpdateSchema = z
  .object({
    disabled: z.boolean().optional(),
    description: z.string().max(1024).optional(),
    permissions: robotCreateSchema.shape.permissions.optional(),
    duration_days: z.number().int().min(-1).max(3650).optional(),
  })
  .strict();
export type RobotCreate = z.output<typeof robotCreateSchema>;
export type RobotUpdate = z.output<typeof robotUpdateSchema>;

/**
 * Robot accounts for CI: explicit per-project permissions, an expiry, disable. Secrets are 256-bit random and
 * stored as SHA-256 (a slow KDF buys nothing at that entropy and would make every token request expensive).
 */
export class RobotService {
  // CI runs `docker` with robot credentials: one token request per operation. A verified robot is remembered for a
  // few seconds (keyed by a keyed hash of name and secret), and only while RegistryAccess keeps its caches: they are
  // cleared together when the shared `access` change counter moves (read at most every V2_MAX_STALENESS_MS, as /v2
  // and the token endpoint read it). Every robot write moves it, so a robot disabled, deleted or re-granted on another
  // replica is refused (or narrowed) here within that bound, REST and /service/token alike; a change made in this
  // process clears the cache at once.
  private readonly authCache = new CredentialCache<Principal>(5000);

  constructor(
    private readonly db: DB,
    private readonly authz: Authorizer,
    private readonly audit: AuditService,
    private readonly access: RegistryAccess,
  ) {
    access.onClear(() => this.authCache.clear());
  }

  /** The principal for `robot$…` credentials, or undefined (unknown, wrong secret, disabled, expired). */
  async authenticate(name: string, secret: string): Promise<Principal | undefined> {
    if (name.length > 255 || secret.length > 256) return undefined;
    await this.access.refresh(V2_MAX_STALENESS_MS);
    const hit = this.authCache.get(name, secret);
    if (hit) return hit;
    // A change seen while verifying (a clear by another request) makes this answer suspect: use it once, keep it not.
    const epoch = this.authCache.epoch;
    const principal = await this.verify(name, secret);
    if (principal) this.authCache.set(name, secret, principal, epoch);
    return principal;
  }

  private async verify(name: string, secret: string): Promise<Principal | undefined> {
    const r = await repo.findRobotByName(this.db, name);
    const given = Buffer.from(sha256hex(secret), 'hex');
    const stored = Buffer.from(r?.secretHash ?? sha256hex('-'), 'hex');
    const match = stored.length === given.length && timingSafeEqual(stored, given);
    if (!r || !match || r.disabled || (r.expiresAt !== null && r.expiresAt <= Date.now())) return undefined;
    const grants = await repo.listRobotGrants(this.db, r.id);
    return { kind: 'robot', id: r.id, name: r.name, permissions: new Map(grants.map((g) => [g.projectId, new Set<RobotAction>(g.actions)])) };
  }

  private async resolveGrants(p: Principal, level: { projectId: number | null; projectName?: string }, perms: z.infer<typeof robotCreateSchema>['permissions']) {
    const grants: { projectId: number; actions: RobotAction[] }[] = [];
    for (const g of perms) {
      const project = await findProjectByName(this.db, g.project);
      if (!project) throw notFound(`project "${g.project.slice(0, 255)}" not found`, { key: 'project_not_found', params: { name: g.project.slice(0, 255) } });
      await this.authz.requireVisible(p, project);
      if (level.projectId !== null && project.id !== level.projectId)
        throw badRequest(`a robot of project ${level.projectName} can only be granted access to that project`, undefined, { key: 'robot_other_project', params: { project: level.projectName ?? '' } });
      // Nobody hands out more than they may do themselves.
      if (!(await this.authz.can(p, 'robot:manage', project)))
        throw denied(`not allowed to create robots for project ${project.name}`, { key: 'robot_not_allowed', params: { project: project.name } });
      grants.push({ projectId: project.id, actions: [...new Set(g.actions)] });
    }
    if (new Set(grants.map((g) => g.projectId)).size !== grants.length) throw badRequest('each project may appear once in permissions', undefined, { key: 'robot_project_twice' });
    return grants;
  }

  /** Creates a robot from a body parsed by `robotCreateSchema` (at the route); names, projects and grants are checked here. */
  async create(p: Principal, actor: Actor, v: RobotCreate): Promise<{ robot: repo.RobotRecord; secret: string }> {
    if (p.kind === 'anonymous') throw unauthorized();
    if (p.kind !== 'user') throw denied('robots cannot create robots', { key: 'robot_no_robots' });
    if (!isPathComponent(v.name)) throw badRequest('robot name must be lowercase letters, digits and separators', undefined, { key: 'robot_name_chars' });
    let projectId: number | null = null;
    let fullName = `robot$${v.name}`;
    if (v.project !== undefined) {
      const project = await findProjectByName(this.db, v.project);
      if (!project) throw notFound(`project "${v.project.slice(0, 255)}" not found`, { key: 'project_not_found', params: { name: v.project.slice(0, 255) } });
      await this.authz.requireVisible(p, project);
      await this.authz.require(p, 'robot:manage', project);
      projectId = project.id;
      fullName = `robot$${project.name}+${v.name}`;
    } else if (!p.isAdmin) {
      throw denied('only system admins create system-level robots; give a project for a project robot', { key: 'robot_system_admin_only' });
    }
    const grants = await this.resolveGrants(p, { projectId, projectName: v.project }, v.permissions);
    const secret = randomBytes(32).toString('base64url');
    const now = Date.now();
    const expiresAt = v.duration_days === undefined || v.duration_days === -1 ? null : now + v.duration_days * 86400_000;
    let id: number;
    try {
      id = await repo.insertRobot(this.db, { name: fullName, projectId, description: v.description ?? null, secretHash: sha256hex(secret), expiresAt, createdBy: actor.name, now }, grants);
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`robot "${fullName}" already exists`, { key: 'robot_exists', params: { name: fullName } });
      throw err;
    }
    this.authCache.clear();
    await this.audit.record(actor, 'create', 'robot', fullName, { permissions: v.permissions, expires_at: expiresAt });
    return { robot: (await repo.findRobotById(this.db, id))!, secret };
  }

  /** A robot the caller may manage: system admins all, project admins their project's robots. */
  async get(p: Principal, id: number): Promise<{ robot: repo.RobotRecord; grants: repo.RobotGrant[] }> {
    if (p.kind === 'anonymous') throw unauthorized();
    const robot = await repo.findRobotById(this.db, id);
    if (!robot) throw notFound('robot not found', { key: 'robot_not_found' });
    if (!(p.kind === 'user' && p.isAdmin)) {
      if (robot.projectId === null) throw denied('only system admins manage system-level robots', { key: 'robot_system_admin_only' });
      const project = { id: robot.projectId, public: false };
      await this.authz.require(p, 'robot:manage', project);
    }
    return { robot, grants: await repo.listRobotGrants(this.db, id) };
  }

  async list(p: Principal, opts: { project?: string; page: PageRequest }) {
    if (p.kind === 'anonymous') throw unauthorized();
    let projectId: number | undefined;
    if (opts.project !== undefined) {
      const project = await findProjectByName(this.db, opts.project);
      if (!project) throw notFound(`project "${opts.project.slice(0, 255)}" not found`, { key: 'project_not_found', params: { name: opts.project.slice(0, 255) } });
      await this.authz.requireVisible(p, project);
      await this.authz.require(p, 'robot:manage', project);
      projectId = project.id;
    } else if (!(p.kind === 'user' && p.isAdmin)) {
      throw denied('only system admins list all robots; filter by project', { key: 'robot_system_admin_only' });
    }
    const page = await repo.listRobots(this.db, { projectId, page: opts.page });
    const items = await Promise.all(page.items.map(async (r) => ({ robot: r, grants: await repo.listRobotGrants(this.db, r.id) })));
    return { ...page, items };
  }

  /** Applies a patch parsed by `robotUpdateSchema` (at the route). */
  async update(p: Principal, actor: Actor, id: number, v: RobotUpdate) {
    const { robot } = await this.get(p, id);
    if (v.permissions) {
      const projectName = robot.projectId === null ? undefined : robot.name.slice('robot$'.length).split('+')[0];
      await repo.replaceRobotGrants(this.db, id, await this.resolveGrants(p, { projectId: robot.projectId, projectName }, v.permissions));
    }
    const patch: Parameters<typeof repo.updateRobot>[2] = {};
    if (v.disabled !== undefined) patch.disabled = v.disabled ? 1 : 0;
    if (v.description !== undefined) patch.description = v.description;
    if (v.duration_days !== undefined) patch.expires_at = v.duration_days === -1 ? null : Date.now() + v.duration_days * 86400_000;
    await repo.updateRobot(this.db, id, patch);
    this.authCache.clear();
    await this.audit.record(actor, 'update', 'robot', robot.name, v);
    return this.get(p, id);
  }

  /** A new secret; the old one stops working at once. The new secret is shown once. */
  async refreshSecret(p: Principal, actor: Actor, id: number): Promise<{ robot: repo.RobotRecord; secret: string }> {
    const { robot } = await this.get(p, id);
    const secret = randomBytes(32).toString('base64url');
    await repo.updateRobot(this.db, id, { secret_hash: sha256hex(secret) });
    this.authCache.clear();
    await this.audit.record(actor, 'refresh_secret', 'robot', robot.name);
    return { robot, secret };
  }

  async delete(p: Principal, actor: Actor, id: number): Promise<void> {
    const { robot } = await this.get(p, id);
    if (!(await repo.deleteRobot(this.db, id))) throw notFound('robot not found', { key: 'robot_not_found' });
    this.authCache.clear();
    await this.audit.record(actor, 'delete', 'robot', robot.name);
  }
}
