import { RESERVED_USERNAMES } from '../registry/constants.js';
import { PATH_COMPONENT, PROJECT_NAME } from '../registry/reference.js';
import { problem, type Problem } from '../errors.js';

/**
 * The checks of names people choose: project names (their grammar is src/registry/reference.ts's `PROJECT_NAME`),
 * usernames and repository paths. Lengths are bounded before any regex runs.
 */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What is wrong with a project name (English message and catalogue key), or null when it is valid. */
export function projectNameProblem(name: unknown): Problem | null {
  if (typeof name !== 'string') return problem('name is required', 'name_required');
  if (name.length < 2 || name.length > 255) return problem('project name must be 2 to 255 characters', 'project_name_length');
  if (!PROJECT_NAME.test(name)) return problem('project name must be lowercase letters and digits, separated by single ".", "_" or "-"', 'project_name_chars');
  return null;
}

/** What is wrong with a username (English message and catalogue key), or null when it is valid. */
export function usernameProblem(name: unknown): Problem | null {
  if (typeof name !== 'string' || name.length === 0) return problem('username is required', 'username_required');
  if (!USERNAME.test(name)) return problem('username must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit', 'username_chars');
  if (RESERVED_USERNAMES.has(name.toLowerCase())) return problem(`the username "${name}" is reserved`, 'username_reserved', { name });
  return null;
}

/** A repository path below its project, e.g. `app` or `team/app` (each component per the distribution grammar). */
export function repositoryPathProblem(repo: string): Problem | null {
  if (repo.length === 0 || repo.length > 255) return problem('repository name must be 1 to 255 characters', 'repository_name_length');
  for (const part of repo.split('/')) if (!PATH_COMPONENT.test(part)) return problem(`invalid repository path component "${part.slice(0, 64)}"`, 'repository_name_part', { part: part.slice(0, 64) });
  return null;
}

export const isPathComponent = (s: string) => s.length <= 255 && PATH_COMPONENT.test(s);
