import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Principal } from '../../src/auth/principal.js';
import { decide, type Action, type Role } from '../../src/auth/rbac.js';

const anon: Principal = { kind: 'anonymous' };
const user: Principal = { kind: 'user', id: 7, name: 'u', isAdmin: false };
const sysadmin: Principal = { kind: 'user', id: 1, name: 'admin', isAdmin: true };
const robot: Principal = { kind: 'robot', id: 3, name: 'robot$ci', permissions: new Map([[10, new Set(['pull', 'push'] as const)]]) };
const priv = { id: 10, public: false };
const pub = { id: 11, public: true };

const cases: [string, Principal, Action, { id: number; public: boolean }, Role | null, boolean][] = [
  ['anonymous pulls public', anon, 'repository:pull', pub, null, true],
  ['anonymous reads public', anon, 'project:read', pub, null, true],
  ['anonymous cannot push public', anon, 'repository:push', pub, null, false],
  ['anonymous cannot pull private', anon, 'repository:pull', priv, null, false],
  ['anonymous cannot read private', anon, 'project:read', priv, null, false],
  ['non-member cannot read private', user, 'project:read', priv, null, false],
  ['non-member pulls public', user, 'repository:pull', pub, null, true],
  ['non-member cannot push public', user, 'repository:push', pub, null, false],
  ['guest pulls', user, 'repository:pull', priv, 'guest', true],
  ['guest cannot push', user, 'repository:push', priv, 'guest', false],
  ['guest cannot delete', user, 'repository:delete', priv, 'guest', false],
  ['guest reads members', user, 'member:read', priv, 'guest', true],
  ['guest cannot write members', user, 'member:write', priv, 'guest', false],
  ['developer pushes', user, 'repository:push', priv, 'developer', true],
  ['developer pulls', user, 'repository:pull', priv, 'developer', true],
  ['developer scans', user, 'artifact:scan', priv, 'developer', true],
  ['developer cannot delete images', user, 'repository:delete', priv, 'developer', false],
  ['developer cannot delete project', user, 'project:delete', priv, 'developer', false],
  ['developer cannot update project', user, 'project:update', priv, 'developer', false],
  ['developer cannot manage members', user, 'member:write', priv, 'developer', false],
  ['admin deletes project', user, 'project:delete', priv, 'admin', true],
  ['admin manages members', user, 'member:write', priv, 'admin', true],
  ['admin deletes images', user, 'repository:delete', priv, 'admin', true],
  ['system admin does anything', sysadmin, 'project:delete', priv, null, true],
  ['robot pulls where granted', robot, 'repository:pull', priv, null, true],
  ['robot pushes where granted', robot, 'repository:push', priv, null, true],
  ['robot cannot delete without grant', robot, 'repository:delete', priv, null, false],
  ['robot reads its project', robot, 'project:read', priv, null, true],
  ['robot cannot manage members', robot, 'member:write', priv, null, false],
  ['robot cannot push elsewhere', robot, 'repository:push', { id: 12, public: false }, null, false],
  ['robot pulls other public project', robot, 'repository:pull', pub, null, true],
  ['a role given to a robot is ignored', robot, 'project:delete', priv, 'admin', false],
];

describe('decide (RBAC)', () => {
  for (const [name, p, action, project, role, want] of cases) {
    it(name, () => assert.equal(decide(p, action, project, role), want));
  }
});
