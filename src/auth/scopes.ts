import { PATH_COMPONENT } from '../registry/reference.js';

/**
 * Parsing of the distribution token spec's `scope` parameters: `repository:<name>:<actions>` and
 * `registry:catalog:*`. Names may carry a `host[:port]/` prefix (so the name is everything between the first
 * and the last colon). Anything that does not parse is dropped: an unparseable scope is simply not granted.
 */

/** The actions on a repository a token or robot can be granted (`*` in a scope asks for all of them). */
export const REPO_ACTIONS = ['pull', 'push', 'delete'] as const;
export type RepoAction = (typeof REPO_ACTIONS)[number] | '*';

export interface RepositoryScope {
  type: 'repository';
  /** the repository name with any host prefix removed, e.g. `p1/app` */
  name: string;
  /** the name exactly as requested (echoed in the token) */
  requestedName: string;
  project: string;
  actions: RepoAction[];
}

export interface CatalogScope {
  type: 'registry';
  name: 'catalog';
  actions: ['*'];
}

export type Scope = RepositoryScope | CatalogScope;

/** One entry of a registry token's `access` claim: what the token grants on one resource. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

const MAX_SCOPES = 32;
const MAX_NAME = 255;
// A domain: dot-separated labels, optional port; or localhost[:port]; IPv6 literals in brackets.
const DOMAIN = /^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const KNOWN_ACTIONS = new Set<RepoAction>([...REPO_ACTIONS, '*']);

/** Every scope from repeated and/or space-separated `scope` parameters, de-duplicated, at most 32. */
export function parseScopes(params: string[], ownHosts: readonly string[]): Scope[] {
  const out: Scope[] = [];
  const seen = new Set<string>();
  for (const param of params) {
    for (const raw of param.split(' ')) {
      if (!raw || raw.length > 1024 || seen.has(raw)) continue;
      seen.add(raw);
      const s = parseScope(raw, ownHosts);
      if (s) out.push(s);
      if (out.length >= MAX_SCOPES) return out;
    }
  }
  return out;
}

export function parseScope(raw: string, ownHosts: readonly string[]): Scope | null {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const type = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actionList = raw.slice(last + 1);
  if (type === 'registry') return name === 'catalog' && actionList === '*' ? { type: 'registry', name: 'catalog', actions: ['*'] } : null;
  // `repository(plugin)` and other resource classes are not ours to grant.
  if (type !== 'repository') return null;
  const repo = stripHost(name, ownHosts);
  if (repo === null) return null;
  const parts = repo.split('/');
  if (parts.length < 2 || !parts.every((p) => PATH_COMPONENT.test(p))) return null;
  const actions = [...new Set(actionList.split(','))].filter((a): a is RepoAction => KNOWN_ACTIONS.has(a as RepoAction));
  return { type: 'repository', name: repo, requestedName: name, project: parts[0]!, actions };
}

/**
 * Removes a `host[:port]/` prefix naming this registry. A prefix naming another host yields null (we do not
 * grant access to other registries' names); a name without a domain part is returned unchanged.
 */
function stripHost(name: string, ownHosts: readonly string[]): string | null {
  if (name.length === 0 || name.length > MAX_NAME + 256) return null;
  const slash = name.indexOf('/');
  if (slash > 0) {
    const first = name.slice(0, slash);
    const looksLikeHost = first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
    if (looksLikeHost) {
      if (!DOMAIN.test(first) || !ownHosts.includes(first.toLowerCase())) return null;
      name = name.slice(slash + 1);
    }
  }
  return name.length <= MAX_NAME ? name : null;
}
