import { Hono } from 'hono';
import { z } from 'zod';
import { REPO_ACTIONS } from '../../auth/scopes.js';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { robotCreateSchema } from '../../services/robot-service.js';
import { SORTS } from '../../paging.js';
import { pathId, type Ctx } from '../http.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { projectPage } from './projects.js';
import { parseForm, parsedAs, text } from './forms.js';
import { errorText, fmtTime, i18nData, page, redirectWith, requireLogin, tr } from './render.js';

/** Which robots a request is about: a project's (`/projects/{name}/robots` or `?project=`) or all. */
const scope = (c: Ctx) => {
  const project = (c.req.param('name') ?? c.req.query('project'))?.slice(0, 255) || undefined;
  return { project, qs: project ? `?project=${encodeURIComponent(project)}` : '', back: project ? `/projects/${encodeURIComponent(project)}/robots` : '/robots' };
};

/** The robot list; a project's renders as the project page's Robot accounts tab (project header and tabs). */
async function listPage(c: Ctx, extra: { created?: { name: string; secret: string }; form?: Record<string, unknown> } = {}, status = 200) {
  const { project, qs } = scope(c);
  const list = listId('robots', project);
  const q = listQuery(c, list, SORTS.robots);
  const res = await c.var.services.robots.list(c.var.principal, { project, page: q.req });
  c.header('Cache-Control', 'no-store');
  const data = {
    project,
    qs,
    base: scope(c).back,
    host: new URL(c.var.services.config.externalUrl).host,
    items: res.items.map((x) => ({ id: x.robot.id, name: x.robot.name, description: x.robot.description, disabled: x.robot.disabled, expires: fmtTime(x.robot.expiresAt), grants: x.grants })),
    pager: cursorPager(c, list, res, q),
    created: extra.created,
    form: extra.form ?? {},
  };
  if (project) {
    // robots.list has already refused a project the caller may not manage robots of.
    const p = await c.var.services.projects.get(c.var.principal, project);
    const body = c.var.services.views.render('partials/robots/list', { ...i18nData(c), csrf: c.var.session?.csrfToken ?? '', ...data });
    return projectPage(c, 'robots', body, p, status);
  }
  return page(c, 'pages/robots/index', { title: tr(c)('robots.title'), nav: 'robots', ...data }, status);
}

/** The create form: one checkbox (value `1`) per repository action, the rest text for `robotCreateSchema`. */
const robotForm = z.object({
  name: text(64),
  project: text(255),
  description: text(1024),
  grant_project: text(255),
  duration_days: text(8),
  actions: z.object(Object.fromEntries(REPO_ACTIONS.map((a) => [a, text(8)]))),
});

/** POST of the create form: the new secret is shown once, in this answer. */
async function createRobot(c: Ctx) {
  // The actions' checkboxes sit beside the other fields: gathered for the schema by name.
  const form = await parseForm(
    c,
    z.preprocess((raw) => ({ ...(raw as object), actions: raw }), robotForm),
  );
  // The project tab (`/projects/{name}/robots`) makes robots of its own project only, whatever the form says.
  const tab = c.req.param('name');
  const actions = REPO_ACTIONS.filter((a) => form.actions[a] === '1');
  const days = form.duration_days;
  const input = {
    name: form.name,
    ...(tab ? { project: tab } : form.project ? { project: form.project } : {}),
    ...(form.description ? { description: form.description } : {}),
    permissions: [{ project: tab ?? form.grant_project, actions }],
    ...(days ? { duration_days: Number(days) } : {}),
  };
  try {
    const { robot, secret } = await c.var.services.robots.create(c.var.principal, c.var.actor, parsedAs(robotCreateSchema, input));
    return listPage(c, { created: { name: robot.name, secret } }, 201);
  } catch (err) {
    if (!(err instanceof AppError) || err.status >= 500 || err.status === 401) throw err;
    return listPage(c, { form: { name: input.name, grantProject: input.permissions[0]!.project, durationDays: days, description: input.description, error: errorText(c, err) } }, 422);
  }
}

/** `/projects/{name}/robots`: the project's Robot accounts tab. */
export function projectRobotPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  r.get('/:name/robots', (c) => listPage(c));
  r.post('/:name/robots', createRobot);
  return r;
}

/**
 * Robot accounts: all of them for system admins, a project's for its admins (`?project=`, shown as the project's
 * tab). A new or refreshed secret is rendered once, in the response to the POST that made it (never in a redirect,
 * cookie or log).
 */
export function robotPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);

  r.get('/', (c) => {
    const { project, back } = scope(c);
    // One address per page: a project's robots live under the project.
    return project ? c.redirect(back, 302) : listPage(c);
  });

  r.post('/', createRobot);

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    r.post(`/:id/${verb}`, async (c) => {
      const { robot } = await c.var.services.robots.update(c.var.principal, c.var.actor, pathId(c, 'id'), { disabled });
      return redirectWith(c, scope(c).back, { kind: 'ok', text: tr(c)(verb === 'disable' ? 'robots.disabled_flash' : 'robots.enabled_flash', { name: robot.name }) });
    });
  }

  const confirmPage = async (c: Ctx, verb: 'refresh' | 'delete') => {
    const { robot } = await c.var.services.robots.get(c.var.principal, pathId(c, 'id'));
    const { qs } = scope(c);
    return page(c, 'pages/confirm', {
      title: tr(c)(verb === 'delete' ? 'robots.delete_robot' : 'robots.refresh_secret'),
      heading: tr(c)(verb === 'delete' ? 'robots.delete_heading' : 'robots.refresh_heading'),
      question: tr(c)(verb === 'delete' ? 'robots.delete_question' : 'robots.refresh_question', { name: robot.name }),
      action: `/robots/${robot.id}/${verb}${qs}`,
      confirmLabel: tr(c)(verb === 'delete' ? 'robots.delete_robot' : 'robots.refresh_secret'),
      cancel: scope(c).back,
    });
  };
  r.get('/:id/refresh', (c) => confirmPage(c, 'refresh'));
  r.get('/:id/delete', (c) => confirmPage(c, 'delete'));

  r.post('/:id/refresh', async (c) => {
    const { robot, secret } = await c.var.services.robots.refreshSecret(c.var.principal, c.var.actor, pathId(c, 'id'));
    return listPage(c, { created: { name: robot.name, secret } });
  });
  r.post('/:id/delete', async (c) => {
    await c.var.services.robots.delete(c.var.principal, c.var.actor, pathId(c, 'id'));
    return redirectWith(c, scope(c).back, { kind: 'ok', text: tr(c)('robots.deleted_flash') });
  });

  return r;
}
