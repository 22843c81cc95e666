import { decide, roleFromId, type Action, type Role } from '../auth/rbac.js';
import type { Principal } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import { findEffectiveRoleId } from '../db/repos/members.js';
import { AppError } from '../errors.js';

/** Answers "may P do A on project X" for routes and the token service alike. */
export class Authorizer {
  constructor(private readonly db: DB) {}

  /** A user's effective role: the highest of their direct role and the roles of their directory groups. */
  async roleOf(p: Principal, projectId: number): Promise<Role | null> {
    if (p.kind !== 'user') return null;
    const id = await findEffectiveRoleId(this.db, projectId, p.id);
    return id === undefined ? null : roleFromId(id);
  }

  async can(p: Principal, action: Action, project: { id: number; public: boolean }): Promise<boolean> {
    if (p.kind === 'user' && p.isAdmin) return true;
    return decide(p, action, project, await this.roleOf(p, project.id));
  }

  /**
   * Throws NOT_FOUND, worded like a missing project, when the caller may not read the project: every way a project
   * is named (REST, UI, robot grants, token scopes) answers alike for private and missing projects.
   */
  async requireVisible(p: Principal, project: { id: number; public: boolean; name: string }): Promise<void> {
    if (await this.can(p, 'project:read', project)) return;
    throw new AppError('NOT_FOUND', `project "${project.name}" not found`, undefined, { key: 'project_not_found', params: { name: project.name } });
  }

  /** Throws 401 for anonymous callers and 403 for others when the action is not allowed. */
  async require(p: Principal, action: Action, project: { id: number; public: boolean }): Promise<void> {
    if (await this.can(p, action, project)) return;
    if (p.kind === 'anonymous') throw new AppError('UNAUTHORIZED', 'authentication required', undefined, { key: 'unauthorized' });
    throw new AppError('DENIED', `not allowed to ${action.replace(':', ' ')} in this project`, undefined, { key: 'not_allowed', params: { action } });
  }
}
