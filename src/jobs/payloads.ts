import { z } from 'zod';
import { REPOSITORY_NAME, SHA256_DIGEST } from '../registry/reference.js';
import { EVENT_TYPES, type WebhookEvent } from '../services/webhook-payloads.js';

/**
 * Every job type's payload, declared once with zod: the runner validates each enqueue against it, and
 * {@link PayloadOf} types `enqueue` by job type. The job type names are the `name`s the job modules register.
 */

/** A job an operator or a schedule starts by hand: why, and who. */
export const manualPayload = z.object({ reason: z.string().max(64).optional(), by: z.string().max(255).optional() });

export const scanPayload = z.object({
  /** full repository name, e.g. `p1/app` */
  repository: z.string().regex(REPOSITORY_NAME).max(255),
  digest: z.string().regex(SHA256_DIGEST),
  /** the artifact's id (jobs queued before it was carried have names only) */
  artifactId: z.number().int().positive().optional(),
  reason: z.string().max(64).optional(),
});

export const gcPayload = z.object({ dryRun: z.boolean().optional(), deleteUntagged: z.boolean().optional() });

/** What started a retention run: a person, or the project's schedule. */
export const RETENTION_TRIGGERS = ['manual', 'schedule'] as const;
export const retentionPayload = z.object({ projectId: z.number().int().positive(), dryRun: z.boolean(), trigger: z.enum(RETENTION_TRIGGERS), operator: z.string().max(255).optional() });

const webhookResource = z.object({ digest: z.string().max(100), tag: z.string().max(128).optional(), scanOverview: z.record(z.string(), z.unknown()).optional() });
const webhookEvent = z.object({
  id: z.string().min(1).max(255),
  type: z.enum(EVENT_TYPES),
  occurAt: z.number(),
  operator: z.string().max(255),
  project: z.object({ id: z.number().int(), name: z.string().max(255), public: z.boolean() }),
  repository: z.string().max(512).nullable(),
  resources: z.array(webhookResource).max(1000),
  details: z.record(z.string(), z.unknown()).optional(),
});
export const webhookPayload = z.object({ policyId: z.number().int().positive(), event: webhookEvent as unknown as z.ZodType<WebhookEvent> });

/** Job type name → payload schema. */
export const JOB_PAYLOADS = {
  scan: scanPayload,
  'scan-all': manualPayload,
  gc: gcPayload,
  reconcile: manualPayload,
  'vulndb-update': manualPayload,
  retention: retentionPayload,
  webhook: webhookPayload,
} as const;

export type JobTypeName = keyof typeof JOB_PAYLOADS;
/** What `enqueue(type, …)` accepts for a job type (before defaults). */
export type PayloadOf<T extends JobTypeName> = z.input<(typeof JOB_PAYLOADS)[T]>;
