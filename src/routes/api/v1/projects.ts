import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { Member, Project } from '../../../services/project-service.js';
import { SORTS } from '../../../paging.js';
import { iso, jsonBody, pathId } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

export const projectJson = (p: Project) => ({
  id: p.id,
  name: p.name,
  public: p.public,
  auto_scan: p.autoScan,
  prevent_vulnerable: p.preventVulnerable,
  severity: p.severity,
  cve_allowlist: p.cveAllowlist,
  immutable_tags: p.immutableTags,
  quota_bytes: p.quotaBytes,
  unscanned_policy: p.unscannedPolicy,
  cve_allowlist_expires_at: iso(p.cveAllowlistExpiresAt),
  signature_keys: p.signatureKeys.map((k) => ({ name: k.name, pem: k.pem })),
  require_signature: p.requireSignature,
  created_at: iso(p.createdAt),
  updated_at: iso(p.updatedAt),
});

/** A member as the API shows it: users keep `user_id`/`username`; groups have `id`/`group`. */
export const memberJson = (m: Member) =>
  m.kind === 'user'
    ? { member_type: 'user', user_id: m.userId, username: m.username, role: m.role, created_at: iso(m.createdAt) }
    : { member_type: 'group', id: m.groupId, group: m.group, role: m.role, created_at: iso(m.createdAt) };

/** Projects and their members; every handler goes through ProjectService, which asks the Authorizer. */
export function projectRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.post('/', async (c) => {
    const b = await jsonBody(c);
    const p = await c.var.services.projects.create(c.var.principal, c.var.actor, { name: b.name, public: b.public });
    return c.json(projectJson(p), 201, { Location: `/api/v1/projects/${p.name}` });
  });

  r.get('/', async (c) => {
    const search = (c.req.query('q') ?? c.req.query('name'))?.slice(0, 255);
    const list = listId('projects', search);
    const q = listQuery(c, list, SORTS.projects);
    const page = await c.var.services.projects.list(c.var.principal, { q: search, page: q.req });
    return listResponse(c, list, q, page, projectJson);
  });

  r.get('/:project', async (c) => {
    const p = await c.var.services.projects.get(c.var.principal, c.req.param('project'));
    const role = await c.var.services.projects.roleOf(c.var.principal, p);
    return c.json({ ...projectJson(p), current_user_role: role, usage_bytes: await c.var.services.policy.usage(p.id) });
  });

  r.put('/:project', async (c) => {
    const p = await c.var.services.projects.update(c.var.principal, c.var.actor, c.req.param('project'), await jsonBody(c));
    return c.json(projectJson(p));
  });

  r.delete('/:project', async (c) => {
    const force = c.req.query('force') === 'true';
    await c.var.services.projects.delete(c.var.principal, c.var.actor, c.req.param('project'), {
      force,
      purge: (project) => c.var.services.repositories.purgeProject(c.var.principal, c.var.actor, project),
    });
    return c.body(null, 204);
  });

  r.get('/:project/members', async (c) => {
    const list = listId('members', c.req.param('project'));
    const q = listQuery(c, list, SORTS.members, { defaultLimit: 50 });
    const page = await c.var.services.projects.listMembers(c.var.principal, c.req.param('project'), q.req);
    return listResponse(c, list, q, page, memberJson);
  });

  r.post('/:project/members', async (c) => {
    const b = await jsonBody(c);
    const m = await c.var.services.projects.addMember(c.var.principal, c.var.actor, c.req.param('project'), { username: b.username, group: b.group, role: b.role });
    return c.json(memberJson(m), 201);
  });

  r.put('/:project/members/groups/:id', async (c) => {
    const b = await jsonBody(c);
    await c.var.services.projects.setGroupMemberRole(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'id'), b.role);
    return c.body(null, 204);
  });

  r.delete('/:project/members/groups/:id', async (c) => {
    await c.var.services.projects.removeGroupMember(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'id'));
    return c.body(null, 204);
  });

  r.put('/:project/members/:userId', async (c) => {
    const b = await jsonBody(c);
    await c.var.services.projects.setMemberRole(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'userId'), b.role);
    return c.body(null, 204);
  });

  r.delete('/:project/members/:userId', async (c) => {
    await c.var.services.projects.removeMember(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'userId'));
    return c.body(null, 204);
  });

  return r;
}
