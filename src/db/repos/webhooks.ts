import type { Selectable } from 'kysely';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import type { WebhookDeliveriesTable, WebhookPoliciesTable } from '../tables.js';
import { stringList } from './json.js';

export interface WebhookPolicy {
  id: number;
  projectId: number;
  name: string;
  url: string;
  format: 'default' | 'cloudevents' | 'slack';
  eventTypes: string[];
  authHeader: string | null;
  secret: string | null;
  skipTlsVerify: boolean;
  enabled: boolean;
  lastTriggeredAt: number | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookDelivery {
  id: number;
  policyId: number;
  jobId: number | null;
  eventId: string;
  eventType: string;
  attempt: number;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  at: number;
}

const toPolicy = (r: Selectable<WebhookPoliciesTable>): WebhookPolicy => ({
  id: Number(r.id),
  projectId: Number(r.project_id),
  name: r.name,
  url: r.url,
  format: r.format as WebhookPolicy['format'],
  eventTypes: stringList(r.event_types),
  authHeader: r.auth_header,
  secret: r.secret,
  skipTlsVerify: !!r.skip_tls_verify,
  enabled: !!r.enabled,
  lastTriggeredAt: r.last_triggered_at === null ? null : Number(r.last_triggered_at),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const toDelivery = (r: Selectable<WebhookDeliveriesTable>): WebhookDelivery => ({
  id: Number(r.id),
  policyId: Number(r.policy_id),
  jobId: r.job_id === null ? null : Number(r.job_id),
  eventId: r.event_id,
  eventType: r.event_type,
  attempt: Number(r.attempt),
  statusCode: r.status_code === null ? null : Number(r.status_code),
  latencyMs: Number(r.latency_ms),
  error: r.error,
  at: Number(r.at),
});

export type WebhookPolicyInput = Pick<WebhookPolicy, 'name' | 'url' | 'format' | 'eventTypes' | 'authHeader' | 'secret' | 'skipTlsVerify' | 'enabled'>;

export async function insertWebhookPolicy(db: DB, projectId: number, v: WebhookPolicyInput, createdBy: string, now: number): Promise<number> {
  const res = await db
    .insertInto('webhook_policies')
    .values({
      project_id: projectId,
      name: v.name,
      url: v.url,
      format: v.format,
      event_types: JSON.stringify(v.eventTypes),
      auth_header: v.authHeader,
      secret: v.secret,
      skip_tls_verify: v.skipTlsVerify ? 1 : 0,
      enabled: v.enabled ? 1 : 0,
      last_triggered_at: null,
      created_by: createdBy.slice(0, 255),
      created_at: now,
      updated_at: now,
    })
    .executeTakeFirstOrThrow();
  return Number(res.insertId);
}

export async function updateWebhookPolicy(db: DB, id: number, v: WebhookPolicyInput, now: number): Promise<void> {
  await db
    .updateTable('webhook_policies')
    .set({
      name: v.name,
      url: v.url,
      format: v.format,
      event_types: JSON.stringify(v.eventTypes),
      auth_header: v.authHeader,
      secret: v.secret,
      skip_tls_verify: v.skipTlsVerify ? 1 : 0,
      enabled: v.enabled ? 1 : 0,
      updated_at: now,
    })
    .where('id', '=', id)
    .execute();
}

export async function findWebhookPolicy(db: DB, projectId: number, id: number): Promise<WebhookPolicy | undefined> {
  const r = await db.selectFrom('webhook_policies').selectAll().where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  return r && toPolicy(r);
}

export async function findWebhookPolicyById(db: DB, id: number): Promise<WebhookPolicy | undefined> {
  const r = await db.selectFrom('webhook_policies').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toPolicy(r);
}

/**
 * Every policy of a project, oldest first: the event fan-out, which must reach each one. The create rule bounds their
 * number (MAX_WEBHOOK_POLICIES in the webhook service); lists for people page with {@link pageWebhookPolicies}.
 */
export async function listWebhookPolicies(db: DB, projectId: number): Promise<WebhookPolicy[]> {
  return (await db.selectFrom('webhook_policies').selectAll().where('project_id', '=', projectId).orderBy('id').execute()).map(toPolicy);
}

/** How many policies a project has. */
export async function countWebhookPolicies(db: DB, projectId: number): Promise<number> {
  const r = await db
    .selectFrom('webhook_policies')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A page of a project's policies, oldest first (keyset on id; the (project_id, id) index serves it). */
export async function pageWebhookPolicies(db: DB, projectId: number, req: PageRequest): Promise<KeysetPage<WebhookPolicy>> {
  const page = await keysetPage(
    db,
    db.selectFrom('webhook_policies').where('project_id', '=', projectId),
    SORTS.oldestFirst,
    req,
    (qb) => qb.selectAll(),
    (r) => [Number(r.id)],
  );
  return { ...page, items: page.items.map(toPolicy) };
}

export async function deleteWebhookPolicy(db: DB, projectId: number, id: number): Promise<boolean> {
  const res = await db.deleteFrom('webhook_policies').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function markWebhookTriggered(db: DB, ids: number[], at: number): Promise<void> {
  if (ids.length) await db.updateTable('webhook_policies').set({ last_triggered_at: at }).where('id', 'in', ids).execute();
}

export async function insertWebhookDelivery(db: DB, d: Omit<WebhookDelivery, 'id'>): Promise<void> {
  await db
    .insertInto('webhook_deliveries')
    .values({
      policy_id: d.policyId,
      job_id: d.jobId,
      event_id: d.eventId.slice(0, 255),
      event_type: d.eventType.slice(0, 32),
      attempt: d.attempt,
      status_code: d.statusCode,
      latency_ms: d.latencyMs,
      error: d.error?.slice(0, 1024) ?? null,
      at: d.at,
    })
    .execute();
}

/** A policy's delivery log, newest first, keyset on id. */
export async function listWebhookDeliveries(db: DB, policyId: number, req: PageRequest): Promise<KeysetPage<WebhookDelivery>> {
  const q = db.selectFrom('webhook_deliveries').where('policy_id', '=', policyId);
  const page = await keysetPage(
    db,
    q,
    SORTS.newestFirst,
    req,
    (qb) => qb.selectAll(),
    (r) => [Number(r.id)],
  );
  return { ...page, items: page.items.map(toDelivery) };
}

/** Keeps the newest `keep` log rows of a policy. */
export async function trimWebhookDeliveries(db: DB, policyId: number, keep: number): Promise<void> {
  const cutoff = await db.selectFrom('webhook_deliveries').select('id').where('policy_id', '=', policyId).orderBy('id', 'desc').offset(keep).limit(1).executeTakeFirst();
  if (cutoff) await db.deleteFrom('webhook_deliveries').where('policy_id', '=', policyId).where('id', '<=', cutoff.id).execute();
}
