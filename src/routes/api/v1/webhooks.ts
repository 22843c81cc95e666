import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { webhookCreateSchema, webhookUpdateSchema, type WebhookDelivery, type WebhookPolicy } from '../../../services/webhook-service.js';
import { SORTS } from '../../../paging.js';
import { iso } from '../../http.js';
import { CONFIG_LIST_LIMIT, listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { op, route } from './operation.js';
import { deliverySchema, idParam, projectParams, webhookSchema } from './schemas.js';

const policyParams = projectParams.extend({ id: idParam.describe('webhook policy id') });
const policy = (description: string) => ({ description, schema: webhookSchema });

export const webhookOps = {
  list: op({
    method: 'get',
    path: '/projects/{project}/webhooks',
    summary: 'List the project’s webhook policies, oldest first (keyset cursors)',
    tag: 'webhooks',
    params: projectParams,
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of policies', schema: listEnvelopeSchema(webhookSchema) } },
  }),
  create: op({
    method: 'post',
    path: '/projects/{project}/webhooks',
    summary: 'Create a webhook policy',
    tag: 'webhooks',
    params: projectParams,
    body: webhookCreateSchema,
    responses: { 201: policy('the new policy') },
    errors: [409],
  }),
  get: op({ method: 'get', path: '/projects/{project}/webhooks/{id}', summary: 'Get a webhook policy', tag: 'webhooks', params: policyParams, responses: { 200: policy('the policy') } }),
  update: op({
    method: 'put',
    path: '/projects/{project}/webhooks/{id}',
    summary: 'Change a webhook policy',
    tag: 'webhooks',
    params: policyParams,
    body: webhookUpdateSchema,
    responses: { 200: policy('the changed policy') },
    errors: [409],
  }),
  delete: op({
    method: 'delete',
    path: '/projects/{project}/webhooks/{id}',
    summary: 'Delete a webhook policy',
    tag: 'webhooks',
    params: policyParams,
    responses: { 204: { description: 'deleted' } },
  }),
  deliveries: op({
    method: 'get',
    path: '/projects/{project}/webhooks/{id}/deliveries',
    summary: 'The policy’s delivery log, newest first (status code, latency; keyset cursors)',
    tag: 'webhooks',
    params: policyParams,
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of deliveries', schema: listEnvelopeSchema(deliverySchema) } },
  }),
  test: op({
    method: 'post',
    path: '/projects/{project}/webhooks/{id}/test',
    summary: 'Send a sample event now and answer how it went',
    tag: 'webhooks',
    params: policyParams,
    responses: {
      200: {
        description: 'how the delivery went',
        schema: z.object({ delivered: z.boolean(), status_code: z.number().int().nullable(), latency_ms: z.number().min(0).nullable(), error: z.string().nullable() }),
      },
    },
  }),
};

/** A policy as the API shows it: the auth header and secret are never given back, only whether they are set. */
export const webhookJson = (w: WebhookPolicy): z.output<typeof webhookSchema> => ({
  id: w.id,
  name: w.name,
  url: w.url,
  format: w.format,
  // Stored only after the create/update schema accepted them.
  event_types: w.eventTypes as z.output<typeof webhookSchema>['event_types'],
  has_auth_header: w.authHeader !== null,
  has_secret: w.secret !== null,
  skip_tls_verify: w.skipTlsVerify,
  enabled: w.enabled,
  last_triggered_at: iso(w.lastTriggeredAt),
  created_by: w.createdBy,
  created_at: iso(w.createdAt),
  updated_at: iso(w.updatedAt),
});

export const deliveryJson = (d: WebhookDelivery): z.output<typeof deliverySchema> => ({
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

  const at = '/projects';
  route(r, at, webhookOps.list, async (c, v) => {
    const { project } = v.params();
    const list = listId('webhooks', project);
    const q = listQuery(c, list, SORTS.oldestFirst, { defaultLimit: CONFIG_LIST_LIMIT });
    const { page } = await c.var.services.webhooks.list(c.var.principal, project, q.req);
    return listResponse(c, list, q, page, webhookJson);
  });

  route(r, at, webhookOps.create, async (c, v) => {
    const { project } = v.params();
    const w = await c.var.services.webhooks.create(c.var.principal, c.var.actor, project, await v.body());
    return c.json(webhookJson(w), 201, { Location: `/api/v1/projects/${project}/webhooks/${w.id}` });
  });

  route(r, at, webhookOps.get, async (c, v) => {
    const { project, id } = v.params();
    const { policy } = await c.var.services.webhooks.get(c.var.principal, project, id);
    return c.json(webhookJson(policy));
  });

  route(r, at, webhookOps.update, async (c, v) => {
    const { project, id } = v.params();
    const w = await c.var.services.webhooks.update(c.var.principal, c.var.actor, project, id, await v.body());
    return c.json(webhookJson(w));
  });

  route(r, at, webhookOps.delete, async (c, v) => {
    const { project, id } = v.params();
    await c.var.services.webhooks.delete(c.var.principal, c.var.actor, project, id);
    return c.body(null, 204);
  });

  // Newest first, keyset on id.
  route(r, at, webhookOps.deliveries, async (c, v) => {
    const { project, id } = v.params();
    const list = listId('deliveries', project, id);
    const q = listQuery(c, list, SORTS.newestFirst, { defaultLimit: 50 });
    const page = await c.var.services.webhooks.deliveries(c.var.principal, project, id, q.req);
    return listResponse(c, list, q, page, deliveryJson);
  });

  route(r, at, webhookOps.test, async (c, v) => {
    const { project, id } = v.params();
    const res = await c.var.services.webhooks.test(c.var.principal, c.var.actor, project, id);
    return c.json({ delivered: res.status !== null && res.status >= 200 && res.status < 300, status_code: res.status, latency_ms: res.latencyMs, error: res.error });
  });

  return r;
}
