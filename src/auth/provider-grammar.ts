import { z } from 'zod';

/**
 * What each sign-in provider setting may hold, written once for both ways in: the environment (src/config.ts, the
 * initial values) and the settings page and REST (services/auth-settings-service.ts, the stored setting).
 */

export const AUTH_MODES = ['db', 'ldap', 'oidc'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** LDAP search scopes: the whole subtree or one level below the base DN. */
export const LDAP_SCOPES = ['sub', 'one'] as const;
export type LdapScope = (typeof LDAP_SCOPES)[number];

/** The attribute tying users to groups: on the group (`member`, `uniqueMember`, `memberUid`) or on the user (`memberOf`). */
export const LDAP_MEMBER_ATTRS = ['member', 'uniqueMember', 'memberUid', 'memberOf'] as const;
export type LdapMemberAttr = (typeof LDAP_MEMBER_ATTRS)[number];

export const ldapUrl = z.string().regex(/^ldaps?:\/\/[^/?#\s]+\/?$/i, 'must be ldap://host[:port] or ldaps://host[:port]');
// `s`: a filter may span lines, as the stored setting always allowed (the environment's check had no `s`: one rule now).
export const ldapFilter = z
  .string()
  .max(1024)
  .regex(/^\(.*\)$/s, 'must be an LDAP filter in parentheses');
export const ldapAttribute = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an attribute name');
export const oidcScopes = z
  .string()
  .max(1024)
  .regex(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/, 'must be space-separated scope names');
export const oidcClaim = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be a claim name');
/** An OIDC issuer: http(s), no credentials, query or fragment (the discovery URL is built from it). */
export const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username;
  } catch {
    return false;
  }
}, 'must be an http(s) URL without credentials, query or fragment');
