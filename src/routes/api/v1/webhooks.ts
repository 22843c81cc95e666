import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { WebhookDelivery, WebhookPolicy } from '../../../services/webhook-service.js';
import { SORTS } from '../../../paging.js';
import { iso, jsonBody, pathId } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

/** A policy as the API shows it: the auth header and secret are never given back, only whether they are set. */
export const webhookJson = (w: WebhookPolicy) => ({
  id: w.id,
  name: w.name,
  url: w.url,
  format: w.format,
  event_types: w.eventTypes,
  has_auth_header: w.authHeader !== null,
  has_secret: w.secret !== null,
  skip_tls_verify: w.skipTlsVerify,
  enabled: w.enabled,
  last_triggered_at: iso(w.lastTriggeredAt),
  created_by: w.createdBy,
  created_at: iso(w.createdAt),
  updated_at: iso(w.updatedAt),
});

export const deliveryJson = (d: WebhookDelivery) => ({
  id: d.id,
  job_id: d.jobId,
  event_id: d.eventId,
  event_type: d.eventType,
  attempt: d.attempt,
  status_code: d.statusCode,
  latency_ms: d.latencyMs,
  error: d.error,
  at: iso(d.at),
});

/** Project webhook policies (project admins). */
export function webhookRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/:project/webhooks', async (c) => {
    const { items } = await c.var.services.webhooks.list(c.var.principal, c.req.param('project'));
    return c.json({ items: items.map(webhookJson) });
  });

  r.post('/:project/webhooks', async (c) => {
    const w = await c.var.services.webhooks.create(c.var.principal, c.var.actor, c.req.param('project'), await jsonBody(c));
    return c.json(webhookJson(w), 201, { Location: `/api/v1/projects/${c.req.param('project')}/webhooks/${w.id}` });
  });

  r.get('/:project/webhooks/:id', async (c) => {
    const { policy } = await c.var.services.webhooks.get(c.var.principal, c.req.param('project'), pathId(c, 'id'));
    return c.json(webhookJson(policy));
  });

  r.put('/:project/webhooks/:id', async (c) => {
    const w = await c.var.services.webhooks.update(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'id'), await jsonBody(c));
    return c.json(webhookJson(w));
  });

  r.delete('/:project/webhooks/:id', async (c) => {
    await c.var.services.webhooks.delete(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'id'));
    return c.body(null, 204);
  });

  // Newest first, keyset on id.
  r.get('/:project/webhooks/:id/deliveries', async (c) => {
    const id = pathId(c, 'id');
    const list = listId('deliveries', c.req.param('project'), id);
    const q = listQuery(c, list, SORTS.newestFirst, { defaultLimit: 50 });
    const page = await c.var.services.webhooks.deliveries(c.var.principal, c.req.param('project'), id, q.req);
    return listResponse(c, list, q, page, deliveryJson);
  });

  r.post('/:project/webhooks/:id/test', async (c) => {
    const res = await c.var.services.webhooks.test(c.var.principal, c.var.actor, c.req.param('project'), pathId(c, 'id'));
    return c.json({ delivered: res.status !== null && res.status >= 200 && res.status < 300, status_code: res.status, latency_ms: res.latencyMs, error: res.error });
  });

  return r;
}
