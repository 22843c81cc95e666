import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import type { KeysetPage, PageRequest } from '../paging.js';
import { findProjectByName, withProjectLock } from '../db/repos/projects.js';
import * as repo from '../db/repos/webhooks.js';
import { conflict, notFound } from '../errors.js';
import type { JobQueue } from '../jobs/queue.js';
import type { Logger } from '../log.js';
import type { OutboundClient } from '../net/outbound.js';
import { postWebhook, type WebhookResponse } from '../net/webhook-send.js';
import type { Actor, AuditService } from './audit-service.js';
import type { Authorizer } from './authorizer.js';
import type { Project, ProjectService } from './project-service.js';
import type { SiteLanguageService } from './site-language-service.js';
import { EVENT_TYPES, renderDelivery, WEBHOOK_FORMATS, type EventType, type WebhookEvent } from './webhook-payloads.js';

export type { WebhookPolicy, WebhookDelivery } from '../db/repos/webhooks.js';

/** The job type that delivers one event to one policy. */
export const WEBHOOK_DELIVERY = 'webhook';

/**
 * Policies per project: every event is fanned out to each of them (one job per policy), and the fan-out reads them
 * all, so their number is bounded where they are made rather than cut short where they are read.
 */
export const MAX_WEBHOOK_POLICIES = 500;
/** Delivery log rows kept per policy. */
const KEEP_DELIVERIES = 500;
/** A receiver gets this long per attempt (connect to last byte). */
const SEND_TIMEOUT_MS = 10_000;
/** Policies per project are read at most this often per process (edits here invalidate at once). */
const CACHE_MS = 2000;

const httpUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials (use auth_header)');

const policyFields = {
  name: z.string().trim().min(1).max(255),
  url: httpUrl,
  format: z.enum(WEBHOOK_FORMATS),
  event_types: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length),
  auth_header: z
    .string()
    .max(1024)
    .regex(/^[\t\x20-\x7e]*$/, 'must be printable ASCII on one line')
    .nullable(),
  secret: z.string().min(8).max(255).nullable(),
  skip_tls_verify: z.boolean(),
  enabled: z.boolean(),
};
const createSchema = z
  .object({
    ...policyFields,
    name: policyFields.name.optional(),
    format: policyFields.format.default('default'),
    auth_header: policyFields.auth_header.optional(),
    secret: policyFields.secret.optional(),
    skip_tls_verify: policyFields.skip_tls_verify.optional(),
    enabled: policyFields.enabled.optional(),
  })
  .strict();
const updateSchema = z.object(policyFields).partial().strict();
/** The bodies the REST API documents and parses (at the route, before they reach this service). */
export { createSchema as webhookCreateSchema, updateSchema as webhookUpdateSchema };
export type WebhookCreate = z.output<typeof createSchema>;
export type WebhookUpdate = z.output<typeof updateSchema>;

export interface DeliveryOutcome {
  /** delivered (2xx) */
  ok: boolean;
  /** no point retrying: the receiver refused it (4xx other than 408/425/429) */
  permanent: boolean;
  /** the policy is gone or disabled: nothing was sent */
  skipped?: string;
  /** why nothing was sent, as a code (the job log's message key) */
  skipReason?: 'deleted' | 'disabled';
  response?: WebhookResponse;
}

/** The payload of one delivery job. */
export interface DeliveryPayload {
  policyId: number;
  event: WebhookEvent;
}

/**
 * Project webhook policies and the events they receive. Emitting only enqueues one delivery job per matching policy
 * (keyed by policy and event id, so a re-applied notification does not send twice); the job sends, logs the attempt
 * and is retried with backoff by the job service, so a receiver that is down never slows a push or a pull and nothing
 * is lost across a restart.
 */
export class WebhookService {
  private readonly cache = new Map<number, { at: number; policies: repo.WebhookPolicy[] }>();

  constructor(
    private readonly db: DB,
    private readonly projects: ProjectService,
    private readonly authz: Authorizer,
    private readonly audit: AuditService,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    /** host[:port] clients use in image references (Harbor's `resource_url`) */
    private readonly registryHost: string,
    /** Berth's outbound client: the address policy every delivery obeys */
    private readonly http: OutboundClient,
    /** the site's default language: Slack messages speak it */
    private readonly siteLanguage: SiteLanguageService,
  ) {}

  /** A project whose webhooks the caller may manage (project admins, system admins). */
  private async manageable(p: Principal, projectName: string): Promise<Project> {
    const project = await this.projects.get(p, projectName);
    await this.authz.require(p, 'project:update', project);
    return project;
  }

  /** A page of the project's policies, oldest first (project admins). */
  async list(p: Principal, projectName: string, req: PageRequest): Promise<{ project: Project; page: KeysetPage<repo.WebhookPolicy> }> {
    const project = await this.manageable(p, projectName);
    return { project, page: await repo.pageWebhookPolicies(this.db, project.id, req) };
  }

  async get(p: Principal, projectName: string, id: number): Promise<{ project: Project; policy: repo.WebhookPolicy }> {
    const project = await this.manageable(p, projectName);
    const policy = await repo.findWebhookPolicy(this.db, project.id, id);
    if (!policy) throw notFound(`webhook ${id} not found in project ${project.name}`, { key: 'webhook_not_found', params: { id, project: project.name } });
    return { project, policy };
  }

  /**
   * Creates a policy from a body parsed by `webhookCreateSchema` (at the route).
   * CONFLICT when the project already has {@link MAX_WEBHOOK_POLICIES}: counted and inserted under the project's row lock
   * (`withProjectLock`), so concurrent creates on any replica never pass the bound together.
   */
  async create(p: Principal, actor: Actor, projectName: string, v: WebhookCreate): Promise<repo.WebhookPolicy> {
    const project = await this.manageable(p, projectName);
    const input: repo.WebhookPolicyInput = {
      name: v.name ?? new URL(v.url).host,
      url: v.url,
      format: v.format,
      eventTypes: [...new Set(v.event_types)],
      authHeader: v.auth_header || null,
      secret: v.secret ?? null,
      skipTlsVerify: v.skip_tls_verify ?? false,
      enabled: v.enabled ?? true,
    };
    // Counted and inserted under the project's lock: two creates (here or on another replica) cannot both see 499.
    const id = await withProjectLock(this.db, project.id, async (trx) => {
      if ((await repo.countWebhookPolicies(trx, project.id)) >= MAX_WEBHOOK_POLICIES) {
        throw conflict(`project ${project.name} has ${MAX_WEBHOOK_POLICIES} webhook policies, the most a project may have: delete one first`);
      }
      return repo.insertWebhookPolicy(trx, project.id, input, actor.name, Date.now());
    });
    this.cache.delete(project.id);
    await this.audit.record(actor, 'create', 'webhook', `${project.name}/${id}`, { url: input.url, format: input.format, event_types: input.eventTypes });
    return (await repo.findWebhookPolicy(this.db, project.id, id))!;
  }

  /** Changes any field; `auth_header` or `secret` null removes it, absent keeps it. */
  async update(p: Principal, actor: Actor, projectName: string, id: number, v: WebhookUpdate): Promise<repo.WebhookPolicy> {
    const { project, policy } = await this.get(p, projectName, id);
    const input: repo.WebhookPolicyInput = {
      name: v.name ?? policy.name,
      url: v.url ?? policy.url,
      format: v.format ?? policy.format,
      eventTypes: v.event_types ? [...new Set(v.event_types)] : policy.eventTypes,
      authHeader: v.auth_header === undefined ? policy.authHeader : v.auth_header || null,
      secret: v.secret === undefined ? policy.secret : v.secret,
      skipTlsVerify: v.skip_tls_verify ?? policy.skipTlsVerify,
      enabled: v.enabled ?? policy.enabled,
    };
    await repo.updateWebhookPolicy(this.db, policy.id, input, Date.now());
    this.cache.delete(project.id);
    await this.audit.record(actor, 'update', 'webhook', `${project.name}/${id}`, {
      ...v,
      auth_header: v.auth_header === undefined ? undefined : '(changed)',
      secret: v.secret === undefined ? undefined : '(changed)',
    });
    return (await repo.findWebhookPolicy(this.db, project.id, id))!;
  }

  async delete(p: Principal, actor: Actor, projectName: string, id: number): Promise<void> {
    const { project } = await this.get(p, projectName, id);
    await repo.deleteWebhookPolicy(this.db, project.id, id);
    this.cache.delete(project.id);
    await this.audit.record(actor, 'delete', 'webhook', `${project.name}/${id}`);
  }

  async deliveries(p: Principal, projectName: string, id: number, f: PageRequest): Promise<KeysetPage<repo.WebhookDelivery>> {
    const { policy } = await this.get(p, projectName, id);
    return repo.listWebhookDeliveries(this.db, policy.id, f);
  }

  /** Sends a sample event of the policy's first type now (one attempt, logged like any delivery) and answers how it went. */
  async test(p: Principal, actor: Actor, projectName: string, id: number): Promise<WebhookResponse> {
    const { project, policy } = await this.get(p, projectName, id);
    const type = (policy.eventTypes[0] ?? 'PUSH_ARTIFACT') as EventType;
    const event: WebhookEvent = {
      id: `test-${policy.id}-${Date.now()}`,
      type,
      occurAt: Date.now(),
      operator: actor.name,
      project: { id: project.id, name: project.name, public: project.public },
      repository: `${project.name}/webhook-test`,
      resources: [{ digest: `sha256:${'0'.repeat(64)}`, tag: 'test' }],
      details: { test: true },
    };
    const out = await this.send(policy, event, { jobId: null, attempt: 1 });
    return out.response!;
  }

  /**
   * Records an event: one delivery job per enabled policy of the project that subscribes to its type. Never throws
   * (an event source must not fail because of its webhooks); returns how many deliveries were queued.
   */
  async emit(event: Omit<WebhookEvent, 'project'> & { project: string | Project }): Promise<number> {
    try {
      const project = typeof event.project === 'string' ? await findProjectByName(this.db, event.project) : event.project;
      if (!project) return 0;
      const policies = (await this.policiesOf(project.id)).filter((x) => x.enabled && x.eventTypes.includes(event.type));
      if (!policies.length) return 0;
      const full: WebhookEvent = { ...event, project: { id: project.id, name: project.name, public: project.public } };
      for (const policy of policies) {
        const payload: DeliveryPayload = { policyId: policy.id, event: full };
        await this.queue.enqueue(WEBHOOK_DELIVERY, payload, { uniqueKey: `webhook:${policy.id}:${event.id}` });
      }
      await repo.markWebhookTriggered(
        this.db,
        policies.map((x) => x.id),
        Date.now(),
      );
      return policies.length;
    } catch (err) {
      this.log.error({ err, type: event.type }, 'webhook event not queued');
      return 0;
    }
  }

  private async policiesOf(projectId: number): Promise<repo.WebhookPolicy[]> {
    const hit = this.cache.get(projectId);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.policies;
    const policies = await repo.listWebhookPolicies(this.db, projectId);
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(projectId, { at: Date.now(), policies });
    return policies;
  }

  /** One delivery attempt of a queued event (the job's work): sends it as the policy is configured now, logs it. */
  async deliver(payload: DeliveryPayload, ctx: { jobId: number; attempt: number; signal: AbortSignal }): Promise<DeliveryOutcome> {
    const policy = await repo.findWebhookPolicyById(this.db, payload.policyId);
    if (!policy) return { ok: true, permanent: false, skipped: 'the webhook was deleted', skipReason: 'deleted' };
    if (!policy.enabled) return { ok: true, permanent: false, skipped: 'the webhook is disabled', skipReason: 'disabled' };
    return this.send(policy, payload.event, ctx);
  }

  private async send(policy: repo.WebhookPolicy, event: WebhookEvent, ctx: { jobId: number | null; attempt: number; signal?: AbortSignal }): Promise<DeliveryOutcome> {
    const locale = policy.format === 'slack' ? await this.siteLanguage.get() : 'en';
    const { headers, body } = renderDelivery(event, policy, this.registryHost, locale);
    const response = await postWebhook({ url: policy.url, headers, body, timeoutMs: SEND_TIMEOUT_MS, skipTlsVerify: policy.skipTlsVerify, signal: ctx.signal }, this.http);
    await repo.insertWebhookDelivery(this.db, {
      policyId: policy.id,
      jobId: ctx.jobId,
      eventId: event.id,
      eventType: event.type,
      attempt: ctx.attempt,
      statusCode: response.status,
      latencyMs: response.latencyMs,
      error: response.error ?? (response.status !== null && (response.status < 200 || response.status > 299) ? `HTTP ${response.status}` : null),
      at: Date.now(),
    });
    if (Math.random() < 0.05) await repo.trimWebhookDeliveries(this.db, policy.id, KEEP_DELIVERIES);
    const s = response.status;
    const ok = s !== null && s >= 200 && s <= 299;
    const permanent = s !== null && s >= 400 && s < 500 && ![408, 425, 429].includes(s);
    return { ok, permanent, response };
  }
}
