import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { SORTS } from '../../../paging.js';
import { projectUpdateSchema, type Member, type Project } from '../../../services/project-service.js';
import { iso } from '../../http.js';
import { listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { op, route } from './operation.js';
import { idParam, memberSchema, projectDetailSchema, projectParams, projectSchema, role } from './schemas.js';

const memberParams = projectParams.extend({ userId: idParam.describe('user id') });
const groupParams = projectParams.extend({ id: idParam.describe('directory group id') });
const done = { 204: { description: 'done' } };

export const projectOps = {
  list: op({
    method: 'get',
    path: '/projects',
    summary: 'List the projects the caller can see',
    tag: 'projects',
    security: 'public',
    query: paginationQuerySchema.extend({
      q: z.string().max(255).optional().describe('part of the project name'),
      name: z.string().max(255).optional().describe('the same as q'),
    }),
    responses: { 200: { description: 'a page of projects', schema: listEnvelopeSchema(projectSchema) } },
  }),
  create: op({
    method: 'post',
    path: '/projects',
    summary: 'Create a project',
    tag: 'projects',
    body: z.object({ name: z.string().min(1).max(255).describe('lower-case letters, digits, ".", "_" and "-"'), public: z.boolean().optional() }),
    responses: { 201: { description: 'the new project', schema: projectSchema } },
    errors: [409],
  }),
  get: op({
    method: 'get',
    path: '/projects/{project}',
    summary: 'Get a project (with usage and the caller’s role)',
    tag: 'projects',
    security: 'public',
    params: projectParams,
    responses: { 200: { description: 'the project', schema: projectDetailSchema } },
  }),
  update: op({
    method: 'put',
    path: '/projects/{project}',
    summary: 'Change project settings and policy (any of the fields)',
    tag: 'projects',
    params: projectParams,
    body: projectUpdateSchema,
    responses: { 200: { description: 'the changed project', schema: projectSchema } },
  }),
  delete: op({
    method: 'delete',
    path: '/projects/{project}',
    summary: 'Delete a project (force=true when it has repositories)',
    tag: 'projects',
    params: projectParams,
    query: z.object({ force: z.enum(['true', 'false']).optional().describe('also delete its repositories and artifacts') }),
    responses: done,
    errors: [409, 412],
  }),
  members: op({
    method: 'get',
    path: '/projects/{project}/members',
    summary: 'List members',
    tag: 'members',
    params: projectParams,
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of members', schema: listEnvelopeSchema(memberSchema) } },
  }),
  addMember: op({
    method: 'post',
    path: '/projects/{project}/members',
    summary: 'Add a member: {username, role} or a directory group {group, role}',
    tag: 'members',
    params: projectParams,
    body: z
      .object({ username: z.string().min(1).max(255).optional(), group: z.string().min(1).max(255).optional(), role })
      .refine((b) => (b.username === undefined) !== (b.group === undefined), 'give either username or group, not both'),
    responses: { 201: { description: 'the new member', schema: memberSchema } },
    errors: [409],
  }),
  setGroupRole: op({
    method: 'put',
    path: '/projects/{project}/members/groups/{id}',
    summary: 'Change a group member’s role',
    tag: 'members',
    params: groupParams,
    body: z.object({ role }),
    responses: done,
  }),
  removeGroup: op({ method: 'delete', path: '/projects/{project}/members/groups/{id}', summary: 'Remove a group member', tag: 'members', params: groupParams, responses: done }),
  setRole: op({
    method: 'put',
    path: '/projects/{project}/members/{userId}',
    summary: 'Change a member’s role',
    tag: 'members',
    params: memberParams,
    body: z.object({ role }),
    responses: done,
  }),
  removeMember: op({ method: 'delete', path: '/projects/{project}/members/{userId}', summary: 'Remove a member', tag: 'members', params: memberParams, responses: done }),
};

export const projectJson = (p: Project): z.output<typeof projectSchema> => ({
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
export const memberJson = (m: Member): z.output<typeof memberSchema> =>
  m.kind === 'user'
    ? { member_type: 'user', user_id: m.userId, username: m.username, role: m.role, created_at: iso(m.createdAt) }
    : { member_type: 'group', id: m.groupId, group: m.group, role: m.role, created_at: iso(m.createdAt) };

/** Projects and their members; every handler goes through ProjectService, which asks the Authorizer. */
export function projectRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const at = '/projects';

  route(r, at, projectOps.create, async (c, v) => {
    const b = await v.body();
    const p = await c.var.services.projects.create(c.var.principal, c.var.actor, { name: b.name, public: b.public });
    return c.json(projectJson(p), 201, { Location: `/api/v1/projects/${p.name}` });
  });

  route(r, at, projectOps.list, async (c, v) => {
    const query = v.query();
    const search = query.q ?? query.name;
    const list = listId('projects', search);
    const q = listQuery(c, list, SORTS.projects);
    const page = await c.var.services.projects.list(c.var.principal, { q: search, page: q.req });
    return listResponse(c, list, q, page, projectJson);
  });

  route(r, at, projectOps.get, async (c, v) => {
    const p = await c.var.services.projects.get(c.var.principal, v.params().project);
    const role = await c.var.services.projects.roleOf(c.var.principal, p);
    return c.json({ ...projectJson(p), current_user_role: role, usage_bytes: await c.var.services.policy.usage(p.id) });
  });

  route(r, at, projectOps.update, async (c, v) => {
    const p = await c.var.services.projects.update(c.var.principal, c.var.actor, v.params().project, await v.body());
    return c.json(projectJson(p));
  });

  route(r, at, projectOps.delete, async (c, v) => {
    const force = v.query().force === 'true';
    await c.var.services.projects.delete(c.var.principal, c.var.actor, v.params().project, {
      force,
      purge: (project) => c.var.services.repositories.purgeProject(c.var.principal, c.var.actor, project),
    });
    return c.body(null, 204);
  });

  route(r, at, projectOps.members, async (c, v) => {
    const { project } = v.params();
    const list = listId('members', project);
    const q = listQuery(c, list, SORTS.members, { defaultLimit: 50 });
    const page = await c.var.services.projects.listMembers(c.var.principal, project, q.req);
    return listResponse(c, list, q, page, memberJson);
  });

  route(r, at, projectOps.addMember, async (c, v) => {
    const b = await v.body();
    const m = await c.var.services.projects.addMember(c.var.principal, c.var.actor, v.params().project, b);
    return c.json(memberJson(m), 201);
  });

  route(r, at, projectOps.setGroupRole, async (c, v) => {
    const { project, id } = v.params();
    const b = await v.body();
    await c.var.services.projects.setGroupMemberRole(c.var.principal, c.var.actor, project, id, b.role);
    return c.body(null, 204);
  });

  route(r, at, projectOps.removeGroup, async (c, v) => {
    const { project, id } = v.params();
    await c.var.services.projects.removeGroupMember(c.var.principal, c.var.actor, project, id);
    return c.body(null, 204);
  });

  route(r, at, projectOps.setRole, async (c, v) => {
    const { project, userId } = v.params();
    const b = await v.body();
    await c.var.services.projects.setMemberRole(c.var.principal, c.var.actor, project, userId, b.role);
    return c.body(null, 204);
  });

  route(r, at, projectOps.removeMember, async (c, v) => {
    const { project, userId } = v.params();
    await c.var.services.projects.removeMember(c.var.principal, c.var.actor, project, userId);
    return c.body(null, 204);
  });

  return r;
}
