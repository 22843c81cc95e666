import { Hono } from 'hono';
import { z } from 'zod';
import { ROLES } from '../../auth/rbac.js';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { projectUpdateSchema, type Project } from '../../services/project-service.js';
import { SORTS } from '../../paging.js';
import { pathId, type Ctx } from '../http.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { chartWords, severityColumns } from './charts.js';
import { GATE_SEVERITIES } from '../../scanner/severity.js';
import { flag, optionalText, parseForm, parsedAs, text } from './forms.js';
import { fmtBytes, fmtTime, fragment, isHtmx, page, redirectWith, requireLogin, i18nData, tr, errorText } from './render.js';

const createForm = z.object({ name: text(300), public: flag() });
/** Lists one per line or comma-separated. */
const lines = (max: number) =>
  text(max).transform((s) =>
    s
      .split(/[\r\n,]+/)
      .map((x) => x.trim())
      .filter(Boolean),
  );
/** The settings form; the patch built from it is parsed by `projectUpdateSchema`, as the REST body is. */
const settingsForm = z.object({
  public: flag(),
  auto_scan: flag(),
  prevent_vulnerable: flag(),
  severity: text(16),
  unscanned_policy: text(16),
  cve_allowlist: lines(20000),
  cve_allowlist_expires: text(20),
  immutable_tags: lines(5000),
  quota_mib: text(20).transform((s) => s.trim()),
});
const deleteForm = z.object({ confirm_name: text(300) });
/** The group form sends `group`, the user form `username`. */
const memberForm = z.object({ group: optionalText(300), username: text(255), role: text(32) });
const roleForm = z.object({ role: text(32) });

const projectView = (p: Project) => ({ name: p.name, public: p.public, created: fmtTime(p.createdAt) });

export type ProjectTab = 'repositories' | 'members' | 'robots' | 'settings' | 'webhooks' | 'retention';

/** The project page with its tabs around one tab's body (the other project modules render into it too). */
export async function projectPage(c: Ctx, tab: ProjectTab, tabBody: string, project: Project, status = 200) {
  const role = await c.var.services.projects.roleOf(c.var.principal, project);
  const base = `/projects/${project.name}`;
  const tabs = [
    { label: tr(c)('projects.tab_repositories'), href: base, active: tab === 'repositories' },
    { label: tr(c)('projects.tab_members'), href: `${base}/members`, active: tab === 'members' },
  ];
  if (await c.var.services.authz.can(c.var.principal, 'robot:manage', project)) tabs.push({ label: tr(c)('projects.tab_robots'), href: `${base}/robots`, active: tab === 'robots' });
  if (await c.var.services.authz.can(c.var.principal, 'project:update', project)) {
    tabs.push({ label: tr(c)('projects.tab_webhooks'), href: `${base}/webhooks`, active: tab === 'webhooks' });
    tabs.push({ label: tr(c)('projects.tab_retention'), href: `${base}/retention`, active: tab === 'retention' });
    tabs.push({ label: tr(c)('projects.tab_settings'), href: `${base}/settings`, active: tab === 'settings' });
  }
  return page(c, 'pages/projects/show', { title: project.name, nav: 'projects', project: projectView(project), role, tabs, tabBody }, status);
}

/** Project list, creation, and the project page with its tabs. */
export function projectPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);

  const listPage = async (c: Ctx, form: Record<string, unknown>, status = 200) => {
    const search = c.req.query('q')?.slice(0, 255) ?? '';
    const list = listId('projects', search || undefined);
    const q = listQuery(c, list, SORTS.projects);
    const res = await c.var.services.projects.list(c.var.principal, { q: search || undefined, page: q.req });
    const facts = await c.var.services.projects.listFacts(
      c.var.principal,
      res.items.map((p) => p.id),
    );
    const items = res.items.map((p) => ({ ...projectView(p), repositories: facts.repositories.get(p.id) ?? 0, role: facts.roles ? (facts.roles.get(p.id) ?? null) : undefined }));
    return page(
      c,
      'pages/projects/index',
      { title: tr(c)('projects.title'), nav: 'projects', items, showRoles: facts.roles !== null, q: search, pager: cursorPager(c, list, res, q), form: { csrf: c.var.session?.csrfToken, ...form } },
      status,
    );
  };

  r.get('/', (c) => listPage(c, {}));

  r.post('/', async (c) => {
    const { name, public: isPublic } = await parseForm(c, createForm);
    try {
      const p = await c.var.services.projects.create(c.var.principal, c.var.actor, { name, public: isPublic });
      if (isHtmx(c)) {
        c.header('HX-Redirect', `/projects/${p.name}`);
        return c.body(null, 204);
      }
      return redirectWith(c, `/projects/${p.name}`, { kind: 'ok', text: tr(c)('projects.created_flash', { name: p.name }) });
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 401) throw err;
      const data = { name, public: isPublic, error: errorText(c, err) };
      if (isHtmx(c)) return fragment(c, 'partials/projects/create-form', data, 422);
      return listPage(c, data, 422);
    }
  });

  r.get('/:name', async (c) => {
    const search = c.req.query('q')?.slice(0, 255) ?? '';
    const list = listId('repositories', c.req.param('name'), search || undefined);
    const q = listQuery(c, list, SORTS.repositories);
    const { project, ...res } = await c.var.services.repositories.list(c.var.principal, c.req.param('name'), { q: search || undefined, page: q.req });
    const items = res.items;
    const ext = new URL(c.var.services.config.externalUrl);
    const totals = await c.var.services.scans.projectTotals(project.id);
    const body = c.var.services.views.render('partials/projects/repositories', {
      ...i18nData(c),
      chart: totals.scanned ? severityColumns(totals.counts, undefined, undefined, chartWords(tr(c))) : '',
      totals,
      project: project.name,
      q: search,
      items: items.map((x) => {
        const repo = x.name.slice(project.name.length + 1);
        return { name: x.name, path: encodeURIComponent(repo), artifactCount: x.artifactCount, pullCount: x.pullCount, updated: fmtTime(x.updatedAt) };
      }),
      pager: cursorPager(c, list, res, q),
      // Docker's daemon already talks plain HTTP to 127.0.0.0/8 (its default insecure range); podman and skopeo do not.
      howto: { host: ext.host, project: project.name, insecure: ext.protocol === 'http:', dockerNeedsInsecure: ext.protocol === 'http:' && !/^127\./.test(ext.hostname) },
    });
    return projectPage(c, 'repositories', body, project);
  });

  const membersData = async (c: Ctx, name: string, form: Record<string, unknown> = {}) => {
    const list = listId('members', name);
    const q = listQuery(c, list, SORTS.members, { defaultLimit: 50 });
    const res = await c.var.services.projects.listMembers(c.var.principal, name, q.req);
    const { items, project } = res;
    const canWrite = await c.var.services.authz.can(c.var.principal, 'member:write', project);
    const csrf = c.var.session?.csrfToken ?? '';
    return {
      project,
      data: {
        project: project.name,
        csrf,
        canWrite,
        roles: ROLES,
        // One row shape for the template: users and groups each with their own URL base and label.
        members: items.map((m) =>
          m.kind === 'user'
            ? { ...m, key: `member-${m.userId}`, label: m.username, base: `/projects/${project.name}/members/${m.userId}`, added: fmtTime(m.createdAt) }
            : { ...m, key: `group-${m.groupId}`, label: m.group, base: `/projects/${project.name}/groups/${m.groupId}`, added: fmtTime(m.createdAt) },
        ),
        pager: cursorPager(c, list, res, q),
        form: { project: project.name, csrf, roles: ROLES, ...form },
      },
    };
  };

  const membersPage = async (c: Ctx, name: string, form: Record<string, unknown> = {}, status = 200) => {
    const { project, data } = await membersData(c, name, form);
    const body = c.var.services.views.render('partials/projects/members', { ...i18nData(c), ...data });
    return projectPage(c, 'members', body, project, status);
  };

  /** After a member change: the table fragment for htmx, or a redirect back to the tab. */
  const membersDone = async (c: Ctx, name: string, text: string) => {
    if (isHtmx(c)) {
      const { data } = await membersData(c, name);
      return fragment(c, 'partials/projects/members-table', data);
    }
    return redirectWith(c, `/projects/${name}/members`, { kind: 'ok', text });
  };

  r.get('/:name/members', (c) => membersPage(c, c.req.param('name')));

  const settingsPage = async (c: Ctx, project: Project, override: Record<string, unknown> = {}, error?: string, status = 200) => {
    await c.var.services.authz.require(c.var.principal, 'project:update', project);
    const usage = await c.var.services.policy.usage(project.id);
    const s = {
      ...project,
      expires: project.cveAllowlistExpiresAt ? new Date(project.cveAllowlistExpiresAt).toISOString().slice(0, 10) : '',
      quotaMib: project.quotaBytes === null ? '' : String(Math.round(project.quotaBytes / 1024 / 1024)),
      ...override,
    };
    const body = c.var.services.views.render('partials/projects/settings', {
      ...i18nData(c),
      project: project.name,
      csrf: c.var.session?.csrfToken ?? '',
      s,
      severities: GATE_SEVERITIES,
      usage: fmtBytes(usage),
      error,
      canDelete: await c.var.services.authz.can(c.var.principal, 'project:delete', project),
    });
    return projectPage(c, 'settings', body, project, status);
  };

  r.get('/:name/settings', async (c) => settingsPage(c, await c.var.services.projects.get(c.var.principal, c.req.param('name'))));

  r.post('/:name/settings', async (c) => {
    const project = await c.var.services.projects.get(c.var.principal, c.req.param('name'));
    const form = await parseForm(c, settingsForm);
    const expires = form.cve_allowlist_expires;
    const quota = form.quota_mib;
    const body = {
      public: form.public,
      auto_scan: form.auto_scan,
      prevent_vulnerable: form.prevent_vulnerable,
      severity: form.severity,
      unscanned_policy: form.unscanned_policy,
      cve_allowlist: form.cve_allowlist,
      cve_allowlist_expires_at: expires ? `${expires}T23:59:59Z` : null,
      immutable_tags: form.immutable_tags,
      quota_bytes: quota === '' ? null : /^\d{1,12}$/.test(quota) ? Number(quota) * 1024 * 1024 : -1,
    };
    try {
      await c.var.services.projects.update(c.var.principal, c.var.actor, project.name, parsedAs(projectUpdateSchema, body));
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 400) throw err;
      return settingsPage(
        c,
        project,
        { public: body.public, autoScan: body.auto_scan, preventVulnerable: body.prevent_vulnerable, cveAllowlist: body.cve_allowlist, immutableTags: body.immutable_tags, expires, quotaMib: quota },
        errorText(c, err),
        422,
      );
    }
    return redirectWith(c, `/projects/${project.name}/settings`, { kind: 'ok', text: tr(c)('settings.saved_flash') });
  });

  const deletePage = async (c: Ctx, project: Project, error?: string, status = 200) => {
    await c.var.services.authz.require(c.var.principal, 'project:delete', project);
    const repositories = await c.var.services.repositories.countInProject(project.id);
    return page(c, 'pages/projects/delete', { title: tr(c)('projects.delete_title', { name: project.name }), nav: 'projects', project: project.name, repositories, error }, status);
  };
  r.get('/:name/delete', async (c) => deletePage(c, await c.var.services.projects.get(c.var.principal, c.req.param('name'))));
  r.post('/:name/delete', async (c) => {
    const project = await c.var.services.projects.get(c.var.principal, c.req.param('name'));
    const form = await parseForm(c, deleteForm);
    if (form.confirm_name !== project.name) return deletePage(c, project, tr(c)('projects.delete_mismatch'), 422);
    await c.var.services.projects.delete(c.var.principal, c.var.actor, project.name, {
      force: true,
      purge: (p) => c.var.services.repositories.purgeProject(c.var.principal, c.var.actor, p),
    });
    return redirectWith(c, '/projects', { kind: 'ok', text: tr(c)('projects.deleted_flash', { name: project.name }) });
  });

  r.post('/:name/members', async (c) => {
    const name = c.req.param('name');
    const form = await parseForm(c, memberForm);
    const isGroup = form.group !== undefined;
    const username = form.group ?? form.username;
    const { role } = form;
    try {
      await c.var.services.projects.addMember(c.var.principal, c.var.actor, name, isGroup ? { group: username, role } : { username, role });
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 401 || err.status === 403) throw err;
      if (isHtmx(c)) {
        // Re-render the table with the error under it, so the message lands inside #members.
        const { data } = await membersData(c, name);
        const table = c.var.services.views.render('partials/projects/members-table', { ...i18nData(c), ...data });
        return c.html(`${table}<p class="error" role="alert">${escapeHtml(errorText(c, err))}</p>`, 422);
      }
      return membersPage(c, name, { username, role, error: errorText(c, err) }, 422);
    }
    return membersDone(c, name, tr(c)('members.added_flash', { name: username, role: tr(c)(`roles.${role}`) }));
  });

  r.post('/:name/members/:userId/role', async (c) => {
    const name = c.req.param('name');
    const { role } = await parseForm(c, roleForm);
    await c.var.services.projects.setMemberRole(c.var.principal, c.var.actor, name, pathId(c, 'userId'), role);
    return membersDone(c, name, tr(c)('members.role_changed_flash'));
  });

  // Without JavaScript, "Remove" leads here to confirm; with htmx, hx-confirm asks and posts directly.
  r.get('/:name/members/:userId/remove', async (c) => {
    const name = c.req.param('name');
    const userId = pathId(c, 'userId');
    const { data } = await membersData(c, name);
    const m = data.members.find((x) => x.kind === 'user' && x.userId === userId);
    if (!m || m.kind !== 'user') throw new AppError('NOT_FOUND', 'member not found', undefined, { key: 'member_not_found' });
    return page(c, 'pages/confirm', {
      title: tr(c)('members.remove_member'),
      heading: tr(c)('members.remove_member'),
      question: tr(c)('members.remove_member_question', { name: m.username, project: name }),
      action: `/projects/${name}/members/${userId}/remove`,
      confirmLabel: tr(c)('members.remove_member'),
      cancel: `/projects/${name}/members`,
    });
  });

  r.post('/:name/members/:userId/remove', async (c) => {
    const name = c.req.param('name');
    await c.var.services.projects.removeMember(c.var.principal, c.var.actor, name, pathId(c, 'userId'));
    return membersDone(c, name, tr(c)('members.removed_flash'));
  });

  r.post('/:name/groups/:id/role', async (c) => {
    const name = c.req.param('name');
    const { role } = await parseForm(c, roleForm);
    await c.var.services.projects.setGroupMemberRole(c.var.principal, c.var.actor, name, pathId(c, 'id'), role);
    return membersDone(c, name, tr(c)('members.role_changed_flash'));
  });

  r.get('/:name/groups/:id/remove', async (c) => {
    const name = c.req.param('name');
    const id = pathId(c, 'id');
    const { data } = await membersData(c, name);
    const m = data.members.find((x) => x.kind === 'group' && x.groupId === id);
    if (!m || m.kind !== 'group') throw new AppError('NOT_FOUND', 'group member not found', undefined, { key: 'member_not_found' });
    return page(c, 'pages/confirm', {
      title: tr(c)('members.remove_group'),
      heading: tr(c)('members.remove_group'),
      question: tr(c)('members.remove_group_question', { group: m.group, project: name }),
      action: `/projects/${name}/groups/${id}/remove`,
      confirmLabel: tr(c)('members.remove_group'),
      cancel: `/projects/${name}/members`,
    });
  });

  r.post('/:name/groups/:id/remove', async (c) => {
    const name = c.req.param('name');
    await c.var.services.projects.removeGroupMember(c.var.principal, c.var.actor, name, pathId(c, 'id'));
    return membersDone(c, name, tr(c)('members.group_removed_flash'));
  });

  return r;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
