import { PATH_COMPONENT } from '../registry/reference.js';

/**
 * Name grammars. Project names are one path component of the distribution name grammar
 * (`[a-z0-9]+(?:[._-][a-z0-9]+)*`); lengths are bounded before any regex runs.
 */
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function projectNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'name is required';
  if (name.length < 2 || name.length > 255) return 'project name must be 2 to 255 characters';
  if (!PROJECT_NAME.test(name)) return 'project name must be lowercase letters and digits, separated by single ".", "_" or "-"';
  return null;
}

export function usernameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'username is required';
  if (!USERNAME.test(name)) return 'username must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit';
  return null;
}

/** A repository path below its project, e.g. `app` or `team/app` (each component per the distribution grammar). */
export function repositoryPathProblem(repo: string): string | null {
  if (repo.length === 0 || repo.length > 255) return 'repository name must be 1 to 255 characters';
  for (const part of repo.split('/')) if (!PATH_COMPONENT.test(part)) return `invalid repository path component "${part.slice(0, 64)}"`;
  return null;
}

export const isPathComponent = (s: string) => s.length <= 255 && PATH_COMPONENT.test(s);
