import type { Principal, RobotAction } from './principal.js';

export const ROLES = ['admin', 'developer', 'guest'] as const;
export type Role = (typeof ROLES)[number];

/** Role ids as seeded in the roles table (the original design's role table). */
export const ROLE_IDS: Record<Role, number> = { admin: 1, developer: 2, guest: 3 };
export const roleFromId = (id: number): Role | null => ROLES.find((r) => ROLE_IDS[r] === id) ?? null;

export type Action =
  | 'project:read'
  | 'project:update'
  | 'project:delete'
  | 'member:read'
  | 'member:write'
  | 'repository:pull'
  | 'repository:push'
  | 'repository:delete'
  | 'artifact:scan'
  | 'robot:manage';

const ROLE_ACTIONS: Record<Role, ReadonlySet<Action>> = {
  admin: new Set<Action>([
    'project:read',
    'project:update',
    'project:delete',
    'member:read',
    'member:write',
    'repository:pull',
    'repository:push',
    'repository:delete',
    'artifact:scan',
    'robot:manage',
  ]),
  developer: new Set<Action>(['project:read', 'member:read', 'repository:pull', 'repository:push', 'artifact:scan']),
  guest: new Set<Action>(['project:read', 'member:read', 'repository:pull']),
};

/** What anyone, even anonymous, may do on a public project. */
const PUBLIC_ACTIONS: ReadonlySet<Action> = new Set<Action>(['project:read', 'repository:pull']);

const ROBOT_ACTIONS: Record<RobotAction, Action> = { pull: 'repository:pull', push: 'repository:push', delete: 'repository:delete' };

export interface ProjectFacts {
  id: number;
  public: boolean;
}

/**
 * The one permission rule: may principal P do action A on project X, given P's role there (if any).
 * Pure, so it is table-tested; `Authorizer` loads the role and calls this.
 */
export function decide(p: Principal, action: Action, project: ProjectFacts, role: Role | null): boolean {
  if (p.kind === 'user' && p.isAdmin) return true;
  if (project.public && PUBLIC_ACTIONS.has(action)) return true;
  if (p.kind === 'robot') {
    const granted = p.permissions.get(project.id);
    if (!granted) return false;
    if (action === 'project:read') return granted.size > 0;
    return [...granted].some((a) => ROBOT_ACTIONS[a] === action);
  }
  if (p.kind === 'user' && role) return ROLE_ACTIONS[role].has(action);
  return false;
}
