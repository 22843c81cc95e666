import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { pageQuery, pathId, type Ctx } from '../http.js';
import { fmtTime, formString, page, pager, redirectWith, requireLogin, tr } from './render.js';

/**
 * Robot accounts: all of them for system admins, a project's for its admins (`?project=`). A new or refreshed secret
 * is rendered once, in the response to the POST that made it (never in a redirect, cookie or log).
 */
export function robotPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  const scope = (c: Ctx) => {
    const project = c.req.query('project')?.slice(0, 255) || undefined;
    return { project, qs: project ? `?project=${encodeURIComponent(project)}` : '' };
  };

  const listPage = async (c: Ctx, extra: { created?: { name: string; secret: string }; form?: Record<string, unknown> } = {}, status = 200) => {
    const { project, qs } = scope(c);
    const q = pageQuery(c);
    const { items, total } = await c.var.services.robots.list(c.var.principal, { project, limit: q.limit, offset: q.offset });
    c.header('Cache-Control', 'no-store');
    return page(
      c,
      'pages/robots/index',
      {
        title: tr(c)('robots.title'),
        nav: 'robots',
        project,
        qs,
        host: new URL(c.var.services.config.externalUrl).host,
        items: items.map((x) => ({ id: x.robot.id, name: x.robot.name, description: x.robot.description, disabled: x.robot.disabled, expires: fmtTime(x.robot.expiresAt), grants: x.grants })),
        pager: pager(c, q.page, q.limit, total),
        created: extra.created,
        form: extra.form ?? {},
      },
      status,
    );
  };

  r.get('/', (c) => listPage(c));

  r.post('/', async (c) => {
    const form = await c.req.parseBody();
    const actions = (['pull', 'push', 'delete'] as const).filter((a) => form[a] === '1');
    const days = formString(form.duration_days, 8);
    const input = {
      name: formString(form.name, 64),
      ...(form.project ? { project: formString(form.project, 255) } : {}),
      ...(formString(form.description, 1024) ? { description: formString(form.description, 1024) } : {}),
      permissions: [{ project: formString(form.grant_project, 255), actions }],
      ...(days ? { duration_days: Number(days) } : {}),
    };
    try {
      const { robot, secret } = await c.var.services.robots.create(c.var.principal, c.var.actor, input);
      return listPage(c, { created: { name: robot.name, secret } }, 201);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 401) throw err;
      return listPage(c, { form: { name: input.name, grantProject: input.permissions[0]!.project, durationDays: days, description: input.description, error: err.message } }, 422);
    }
  });

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    r.post(`/:id/${verb}`, async (c) => {
      const { robot } = await c.var.services.robots.update(c.var.principal, c.var.actor, pathId(c, 'id'), { disabled });
      return redirectWith(c, `/robots${scope(c).qs}`, { kind: 'ok', text: tr(c)(verb === 'disable' ? 'robots.disabled_flash' : 'robots.enabled_flash', { name: robot.name }) });
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
      cancel: `/robots${qs}`,
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
    return redirectWith(c, `/robots${scope(c).qs}`, { kind: 'ok', text: tr(c)('robots.deleted_flash') });
  });

  return r;
}
