import { announceLocalBump } from '../db/repos/generations.js';
import { z } from 'zod';
import { projectNameProblem } from '../auth/names.js';
import { isSystemAdmin, type Principal } from '../auth/principal.js';
import { ROLE_IDS, roleFromId, ROLES, type Role } from '../auth/rbac.js';
import type { DB } from '../db/connect.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import * as members from '../db/repos/members.js';
import { findUserByName } from '../db/repos/users.js';
import { deleteProjectRow, findProjectByName, insertProject, listProjects, updateProjectRow, type Project } from '../db/repos/projects.js';
import { countRepositories, countRepositoriesByProject } from '../db/repos/artifacts.js';
import type { ProjectUpdate } from '../db/tables.js';
import { badRequest, conflict, denied, fromProblem, isUniqueViolation, notFound, problem as complaint, type Problem, unauthorized } from '../errors.js';
import type { Actor, AuditService } from './audit-service.js';
import type { Authorizer } from './authorizer.js';
import { parsePublicKey } from '../registry/cosign.js';
import { ADVISORY_ID } from '../registry/reference.js';
import { GATE_SEVERITIES, UNSCANNED_POLICIES } from '../scanner/severity.js';

export type { Project };

const TAG_GLOB = /^[A-Za-z0-9_.*?\-[\]!]{1,128}$/;
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const projectUpdateSchema = z
  .object({
    public: z.boolean(),
    auto_scan: z.boolean(),
    prevent_vulnerable: z.boolean(),
    severity: z.enum(GATE_SEVERITIES),
    cve_allowlist: z.array(z.string().regex(ADVISORY_ID, 'not an advisory or CVE id')).max(1000),
    immutable_tags: z.array(z.string().regex(TAG_GLOB, 'not a tag glob pattern')).max(100),
    quota_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
    unscanned_policy: z.enum(UNSCANNED_POLICIES),
    cve_allowlist_expires_at: z.iso.datetime({ offset: true }).nullable(),
    signature_keys: z
      .array(z.object({ name: z.string().regex(KEY_NAME, 'key names are 1-64 letters, digits, ".", "_" or "-"'), pem: z.string().max(4096) }).strict())
      .max(20)
      .superRefine((keys, ctx) => {
        const seen = new Set<string>();
        keys.forEach((k, i) => {
          if (seen.has(k.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate key name "${k.name}"` });
          seen.add(k.name);
          try {
            parsePublicKey(k.pem);
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: [i, 'pem'], message: (err as Error).message });
          }
        });
      }),
    require_signature: z.boolean(),
  })
  .partial()
  .strict();
export type ProjectPatch = z.infer<typeof projectUpdateSchema>;

/** A project member: a user (`userId`, `username`) or a directory group (`groupId`, `group`). */
export type Member = { kind: 'user'; userId: number; username: string; role: Role; createdAt: number } | { kind: 'group'; groupId: number; group: string; role: Role; createdAt: number };

/** Group names as directories give them: LDAP DNs or plain names, OIDC claim values; printable, at most 255. */
export function groupNameProblem(v: unknown): Problem | null {
  if (typeof v !== 'string' || !v.trim()) return complaint('group is required', 'group_required');
  if (v.length > 255) return complaint('group names are at most 255 characters', 'group_name_length');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) return complaint('group names may not contain control characters', 'group_name_chars');
  if (v !== v.trim()) return complaint('group names may not start or end with spaces', 'group_name_spaces');
  return null;
}

export class ProjectService {
  /** Listeners for a project whose signature keys changed (signature verification plugs in here). */
  readonly onSignatureKeysChanged: ((project: Project) => Promise<void>)[] = [];

  constructor(
    private readonly db: DB,
    private readonly authz: Authorizer,
    private readonly audit: AuditService,
  ) {}

  /** Any signed-in user may create a project and becomes its admin; robots and anonymous callers may not. */
  async create(p: Principal, actor: Actor, input: { name: unknown; public?: unknown }): Promise<Project> {
    if (p.kind === 'anonymous') throw unauthorized();
    if (p.kind !== 'user') throw denied('robot accounts cannot create projects', { key: 'robot_no_projects' });
    const problem = projectNameProblem(input.name);
    if (problem) throw fromProblem('BAD_REQUEST', problem);
    if (input.public !== undefined && typeof input.public !== 'boolean') throw badRequest('public must be true or false');
    const name = input.name as string;
    const now = Date.now();
    try {
      const id = await this.db.transaction().execute(async (trx) => {
        const id = await insertProject(trx, { name, public: input.public === true, ownerId: p.id, now });
        await members.insertMember(trx, { projectId: id, userId: p.id, roleId: ROLE_IDS.admin, now });
        return id;
      });
      announceLocalBump(this.db, 'access'); // committed: this process's permission caches forget "no such project"
      await this.audit.record(actor, 'create', 'project', name, { public: input.public === true, id });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`project "${name}" already exists`, { key: 'project_exists', params: { name } });
      throw err;
    }
    return (await findProjectByName(this.db, name))!;
  }

  /** Projects the caller can see: all for system admins, else public ones and those they are a member of. */
  async list(p: Principal, opts: { q?: string; page: PageRequest }) {
    return listProjects(this.db, { q: opts.q, visible: this.visibility(p), page: opts.page });
  }

  /**
   * What the project list shows beside each project of a page: its repository count, and the caller's role in it
   * (null for system admins, who act as admin everywhere, and for callers that are not users). Two queries over the
   * page's ids, whatever the page's length.
   */
  async listFacts(p: Principal, projectIds: number[]): Promise<{ repositories: Map<number, number>; roles: Map<number, Role> | null }> {
    const repositories = await countRepositoriesByProject(this.db, projectIds);
    if (isSystemAdmin(p) || p.kind !== 'user') return { repositories, roles: null };
    const roles = new Map<number, Role>();
    for (const [id, roleId] of await members.findEffectiveRoleIds(this.db, projectIds, p.id)) {
      const role = roleFromId(roleId);
      if (role) roles.set(id, role);
    }
    return { repositories, roles };
  }

  /** The private projects a caller may see besides the public ones (a user's memberships are asked in the query). */
  visibility(p: Principal): members.Visibility {
    if (isSystemAdmin(p)) return { all: true };
    if (p.kind === 'user') return { all: false, userId: p.id };
    if (p.kind === 'robot') return { all: false, projectIds: [...p.permissions.keys()] };
    return { all: false, projectIds: [] };
  }

  /**
   * A project the caller may read. 404 both when it does not exist and when the caller may not read it (anonymous
   * callers included), with the same message, so private project names cannot be probed.
   */
  async get(p: Principal, name: string): Promise<Project> {
    const project = await this.find(name);
    await this.authz.requireVisible(p, project);
    return project;
  }

  async find(name: string): Promise<Project> {
    const project = name.length <= 255 ? await findProjectByName(this.db, name) : undefined;
    if (!project) throw notFound(`project "${name.slice(0, 255)}" not found`, { key: 'project_not_found', params: { name: name.slice(0, 255) } });
    return project;
  }

  /** Applies a patch parsed by `projectUpdateSchema` (at the route); the rules across fields are checked here. */
  async update(p: Principal, actor: Actor, name: string, v: ProjectPatch): Promise<Project> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'project:update', project);
    const patch: ProjectUpdate = { updated_at: Date.now() };
    if (v.public !== undefined) patch.public = v.public ? 1 : 0;
    if (v.auto_scan !== undefined) patch.auto_scan = v.auto_scan ? 1 : 0;
    if (v.prevent_vulnerable !== undefined) patch.prevent_vulnerable = v.prevent_vulnerable ? 1 : 0;
    if (v.severity !== undefined) patch.severity = v.severity;
    if (v.cve_allowlist !== undefined) patch.cve_allowlist = JSON.stringify([...new Set(v.cve_allowlist.map((s) => s.toUpperCase()))]);
    if (v.immutable_tags !== undefined) patch.immutable_tags = JSON.stringify([...new Set(v.immutable_tags)]);
    if (v.quota_bytes !== undefined) patch.quota_bytes = v.quota_bytes;
    if (v.unscanned_policy !== undefined) patch.unscanned_policy = v.unscanned_policy;
    if (v.cve_allowlist_expires_at !== undefined) patch.cve_allowlist_expires_at = v.cve_allowlist_expires_at === null ? null : Date.parse(v.cve_allowlist_expires_at);
    if (v.signature_keys !== undefined) patch.signature_keys = JSON.stringify(v.signature_keys.map((k) => ({ name: k.name, pem: parsePublicKey(k.pem).pem })));
    if (v.require_signature !== undefined) patch.require_signature = v.require_signature ? 1 : 0;
    // Signed-only with no key would refuse every pull: ask for a key first.
    if ((v.require_signature ?? project.requireSignature) && !(v.signature_keys ?? project.signatureKeys).length) {
      throw badRequest('require_signature needs at least one key in signature_keys', undefined, { key: 'signature_needs_key' });
    }
    await updateProjectRow(this.db, project.id, patch);
    const { signature_keys, ...logged } = v;
    await this.audit.record(actor, 'update', 'project', name, signature_keys ? { ...logged, signature_keys: signature_keys.map((k) => k.name) } : logged);
    const updated = await this.find(name);
    // Signatures already pushed are judged again under the new keys before this returns.
    if (signature_keys !== undefined) for (const fn of this.onSignatureKeysChanged) await fn(updated);
    return updated;
  }

  /**
   * Deletes a project. One that still has repositories is only deleted with `force` (the UI asks for the name to be
   * typed); its images are deleted in the registry first, through `purge`.
   */
  async delete(p: Principal, actor: Actor, name: string, opts: { force: boolean; purge: (project: Project) => Promise<number> }): Promise<void> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'project:delete', project);
    const n = await countRepositories(this.db, project.id);
    if (n > 0 && !opts.force)
      throw conflict(`project ${name} still has ${n} repositories: delete them first, or confirm deleting everything (force)`, { key: 'project_not_empty', params: { name, count: n } });
    const artifacts = n > 0 ? await opts.purge(project) : 0;
    await deleteProjectRow(this.db, project.id);
    await this.audit.record(actor, 'delete', 'project', name, { repositories: n, artifacts });
  }

  // --- members ---

  async listMembers(p: Principal, name: string, req: PageRequest): Promise<KeysetPage<Member> & { project: Project }> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'member:read', project);
    const page = await members.listAllMembers(this.db, project.id, req);
    return {
      ...page,
      items: page.items.map(
        (m): Member =>
          m.kind === 'user'
            ? { kind: 'user', userId: m.id, username: m.name, role: roleFromId(m.roleId)!, createdAt: m.createdAt }
            : { kind: 'group', groupId: m.id, group: m.name, role: roleFromId(m.roleId)!, createdAt: m.createdAt },
      ),
      project,
    };
  }

  /** Adds a user (`username`) or a directory group (`group`) with a role; exactly one of the two. */
  async addMember(p: Principal, actor: Actor, name: string, input: { username?: unknown; group?: unknown; role?: unknown }): Promise<Member> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'member:write', project);
    const role = parseRole(input.role);
    if (input.group !== undefined && input.username !== undefined) throw badRequest('give either username or group, not both', undefined, { key: 'member_user_or_group' });
    if (input.group !== undefined) return this.addGroupMember(actor, project, input.group, role);
    if (typeof input.username !== 'string' || !input.username) throw badRequest('username (or group) is required', undefined, { key: 'member_user_or_group' });
    const user = input.username.length <= 255 ? await findUserByName(this.db, input.username) : undefined;
    if (!user) throw notFound(`user "${input.username.slice(0, 255)}" not found`, { key: 'user_name_not_found', params: { name: input.username.slice(0, 255) } });
    const now = Date.now();
    try {
      await members.insertMember(this.db, { projectId: project.id, userId: user.id, roleId: ROLE_IDS[role], now });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`"${user.username}" is already a member of ${project.name}`, { key: 'member_exists', params: { name: user.username, project: project.name } });
      throw err;
    }
    await this.audit.record(actor, 'add_member', 'project', project.name, { username: user.username, role });
    return { kind: 'user', userId: user.id, username: user.username, role, createdAt: now };
  }

  private async addGroupMember(actor: Actor, project: Project, groupInput: unknown, role: Role): Promise<Member> {
    const problem = groupNameProblem(groupInput);
    if (problem) throw fromProblem('BAD_REQUEST', problem);
    const group = groupInput as string;
    const now = Date.now();
    let id: number;
    try {
      id = await members.insertGroupMember(this.db, { projectId: project.id, group, roleId: ROLE_IDS[role], now });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`group "${group}" is already a member of ${project.name}`, { key: 'member_exists', params: { name: group, project: project.name } });
      throw err;
    }
    await this.audit.record(actor, 'add_member', 'project', project.name, { group, role });
    return { kind: 'group', groupId: id, group, role, createdAt: now };
  }

  async setGroupMemberRole(p: Principal, actor: Actor, name: string, groupId: number, roleInput: unknown): Promise<void> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'member:write', project);
    const role = parseRole(roleInput);
    const m = await members.findGroupMember(this.db, project.id, groupId);
    if (!m || !(await members.updateGroupMemberRole(this.db, project.id, groupId, ROLE_IDS[role]))) throw notFound('group member not found', { key: 'member_not_found' });
    await this.audit.record(actor, 'change_role', 'project', project.name, { group: m.group, role });
  }

  async removeGroupMember(p: Principal, actor: Actor, name: string, groupId: number): Promise<void> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'member:write', project);
    const m = await members.findGroupMember(this.db, project.id, groupId);
    if (!m || !(await members.deleteGroupMember(this.db, project.id, groupId))) throw notFound('group member not found', { key: 'member_not_found' });
    await this.audit.record(actor, 'remove_member', 'project', project.name, { group: m.group });
  }

  async setMemberRole(p: Principal, actor: Actor, name: string, userId: number, roleInput: unknown): Promise<void> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'member:write', project);
    const role = parseRole(roleInput);
    if (!(await members.updateMemberRole(this.db, project.id, userId, ROLE_IDS[role]))) throw notFound('member not found', { key: 'member_not_found' });
    await this.audit.record(actor, 'change_role', 'project', project.name, { user_id: userId, role });
  }

  async removeMember(p: Principal, actor: Actor, name: string, userId: number): Promise<void> {
    const project = await this.get(p, name);
    await this.authz.require(p, 'member:write', project);
    if (!(await members.deleteMember(this.db, project.id, userId))) throw notFound('member not found', { key: 'member_not_found' });
    await this.audit.record(actor, 'remove_member', 'project', project.name, { user_id: userId });
  }

  async roleOf(p: Principal, project: Project): Promise<Role | null> {
    return this.authz.roleOf(p, project.id);
  }
}

function parseRole(v: unknown): Role {
  if (typeof v === 'string' && (ROLES as readonly string[]).includes(v)) return v as Role;
  throw badRequest(`role must be one of ${ROLES.join(', ')}`, undefined, { key: 'role_invalid', params: { roles: ROLES.join(', ') } });
}
