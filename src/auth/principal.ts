import type { REPO_ACTIONS } from './scopes.js';

/** Who is asking. Robots arrive with the registry integration; the shape is fixed here. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: number; name: string; isAdmin: boolean }
  | { kind: 'robot'; id: number; name: string; permissions: ReadonlyMap<number, ReadonlySet<RobotAction>> };

/** What a robot may be granted on a project's repositories: the repository actions, without `*`. */
export type RobotAction = (typeof REPO_ACTIONS)[number];

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

export const principalName = (p: Principal): string => (p.kind === 'anonymous' ? 'anonymous' : p.name);
export const isSystemAdmin = (p: Principal): boolean => p.kind === 'user' && p.isAdmin;
