import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { EVENT_TYPES, WEBHOOK_FORMATS } from '../../services/webhook-payloads.js';
import { webhookCreateSchema, type WebhookPolicy } from '../../services/webhook-service.js';
import { SORTS } from '../../paging.js';
import { pathId, type Ctx } from '../http.js';
import { CONFIG_LIST_LIMIT, cursorPager, listId, listQuery } from '../pagination.js';
import { projectPage } from './projects.js';
import { flag, list, parseForm, parsedAs, text } from './forms.js';
import { fmtTime, i18nData, page, redirectWith, requireLogin, tr, errorText } from './render.js';

/** The new-policy form; the policy built from it is parsed by `webhookCreateSchema`, as the REST body is. */
const webhookForm = z.object({
  url: text(2100).transform((s) => s.trim()),
  format: text(16),
  event_types: list(32, 20),
  auth_header: text(1100),
  secret: text(300),
  skip_tls_verify: flag(),
  enabled: flag(),
});
const enabledForm = z.object({ enabled: flag() });

const policyView = (c: Ctx, w: WebhookPolicy) => ({
  id: w.id,
  name: w.name,
  url: w.url,
  format: w.format,
  events: w.eventTypes.join(', '),
  enabled: w.enabled,
  lastTriggered: fmtTime(w.lastTriggeredAt) || tr(c)('common.never'),
});

/** The project's Webhooks tab: policies, a create form, a test button, and each policy's delivery log. */
export function webhookPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);

  const listPage = async (c: Ctx, name: string, form: Record<string, unknown> = {}, status = 200) => {
    const list = listId('webhooks', name);
    const q = listQuery(c, list, SORTS.oldestFirst, { defaultLimit: CONFIG_LIST_LIMIT });
    const { project, page: res } = await c.var.services.webhooks.list(c.var.principal, name, q.req);
    const body = c.var.services.views.render('partials/webhooks/list', {
      ...i18nData(c),
      project: project.name,
      csrf: c.var.session?.csrfToken ?? '',
      items: res.items.map((w) => policyView(c, w)),
      pager: cursorPager(c, list, res, q),
      eventTypes: EVENT_TYPES,
      formats: WEBHOOK_FORMATS,
      form: { url: '', format: 'default', events: ['PUSH_ARTIFACT'], enabled: true, ...form },
    });
    return projectPage(c, 'webhooks', body, project, status);
  };

  r.get('/:name/webhooks', (c) => listPage(c, c.req.param('name')));

  r.post('/:name/webhooks', async (c) => {
    const name = c.req.param('name');
    const form = await parseForm(c, webhookForm);
    const events = form.event_types;
    const body = {
      url: form.url,
      format: form.format || 'default',
      event_types: events,
      auth_header: form.auth_header || undefined,
      secret: form.secret || undefined,
      skip_tls_verify: form.skip_tls_verify,
      enabled: form.enabled,
    };
    try {
      await c.var.services.webhooks.create(c.var.principal, c.var.actor, name, parsedAs(webhookCreateSchema, body));
    } catch (err) {
      if (!(err instanceof AppError) || (err.status !== 400 && err.status !== 409)) throw err;
      return listPage(c, name, { url: body.url, format: body.format, events, enabled: body.enabled, error: errorText(c, err) }, 422);
    }
    return redirectWith(c, `/projects/${name}/webhooks`, { kind: 'ok', text: tr(c)('webhooks.created') });
  });

  r.post('/:name/webhooks/:id/test', async (c) => {
    const name = c.req.param('name');
    const res = await c.var.services.webhooks.test(c.var.principal, c.var.actor, name, pathId(c, 'id'));
    const ok = res.status !== null && res.status >= 200 && res.status < 300;
    const text = ok ? tr(c)('webhooks.test_delivered', { status: res.status, ms: res.latencyMs }) : tr(c)('webhooks.test_failed', { error: res.error ?? `HTTP ${res.status}`, ms: res.latencyMs });
    return redirectWith(c, `/projects/${name}/webhooks/${c.req.param('id')}`, { kind: ok ? 'ok' : 'error', text });
  });

  r.post('/:name/webhooks/:id/enabled', async (c) => {
    const name = c.req.param('name');
    const { enabled } = await parseForm(c, enabledForm);
    await c.var.services.webhooks.update(c.var.principal, c.var.actor, name, pathId(c, 'id'), { enabled });
    return redirectWith(c, `/projects/${name}/webhooks`, { kind: 'ok', text: tr(c)(enabled ? 'webhooks.enabled_flash' : 'webhooks.disabled_flash') });
  });

  r.get('/:name/webhooks/:id', async (c) => {
    const name = c.req.param('name');
    const id = pathId(c, 'id');
    const { project, policy } = await c.var.services.webhooks.get(c.var.principal, name, id);
    // The log keeps about 500 rows per policy (trimmed now and then, so briefly more): pages of 50, as over REST.
    const list = listId('deliveries', name, id);
    const q = listQuery(c, list, SORTS.newestFirst, { defaultLimit: 50 });
    const deliveries = await c.var.services.webhooks.deliveries(c.var.principal, name, id, q.req);
    const body = c.var.services.views.render('partials/webhooks/show', {
      ...i18nData(c),
      project: project.name,
      csrf: c.var.session?.csrfToken ?? '',
      w: { ...policyView(c, policy), hasSecret: policy.secret !== null, hasAuth: policy.authHeader !== null, skipTls: policy.skipTlsVerify },
      deliveries: deliveries.items.map((d) => ({ ...d, when: fmtTime(d.at), ok: d.statusCode !== null && d.statusCode >= 200 && d.statusCode < 300 })),
      pager: cursorPager(c, list, deliveries, q),
    });
    return projectPage(c, 'webhooks', body, project);
  });

  r.get('/:name/webhooks/:id/delete', async (c) => {
    const name = c.req.param('name');
    const { policy } = await c.var.services.webhooks.get(c.var.principal, name, pathId(c, 'id'));
    return page(c, 'pages/confirm', {
      title: tr(c)('webhooks.delete'),
      heading: tr(c)('webhooks.delete'),
      question: tr(c)('webhooks.delete_question', { url: policy.url }),
      action: `/projects/${name}/webhooks/${policy.id}/delete`,
      confirmLabel: tr(c)('webhooks.delete'),
      cancel: `/projects/${name}/webhooks`,
    });
  });

  r.post('/:name/webhooks/:id/delete', async (c) => {
    const name = c.req.param('name');
    await c.var.services.webhooks.delete(c.var.principal, c.var.actor, name, pathId(c, 'id'));
    return redirectWith(c, `/projects/${name}/webhooks`, { kind: 'ok', text: tr(c)('webhooks.deleted') });
  });

  return r;
}
