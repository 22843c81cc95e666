import { z } from 'zod';
import { paginationQuerySchema } from '../../pagination.js';
import { ROLES } from '../../../auth/rbac.js';
import { AUTH_MODES } from '../../../auth/provider-grammar.js';
import { ERROR_STATUS } from '../../../errors.js';
import { JOB_STATES } from '../../../jobs/states.js';
import { RETENTION_TRIGGERS } from '../../../jobs/payloads.js';
import { RETENTION_OUTCOMES } from '../../../services/retention-service.js';
import { COMPLETENESS } from '../../../services/scan-service.js';
import { GATE_SEVERITIES, SEVERITIES, UNSCANNED_POLICIES } from '../../../scanner/severity.js';
import { EVENT_TYPES, WEBHOOK_FORMATS } from '../../../services/webhook-payloads.js';

/**
 * The shapes of /api/v1, in zod: query parameters and bodies are parsed with them, answers are typed by them (the
 * `…Json` mappers return their output type), and the OpenAPI document is generated from them. Schemas given an id
 * with `component` (zod's registry metadata) become `#/components/schemas/<id>`.
 */
export const component = <T extends z.ZodType>(id: string, schema: T): T => schema.meta({ id }) as T;

// Answers carry `toISOString()` times: documented (and checked) by format, without zod's long ISO pattern.
const time = z.string().meta({ format: 'date-time' });
const nullableTime = time.nullable();
const count = z.number().int().min(0);
const id = z.number().int().min(1);

/** The one error body of /api, /v2 and /service (src/errors.ts). */
export const errorBody = component(
  'Errors',
  z.object({
    errors: z
      .array(
        z.object({
          code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
          message: z.string(),
          detail: z.unknown().optional(),
        }),
      )
      .min(1),
  }),
);

// ---------------------------------------------------------------------------------------------------------------
// Pagination: every keyset-paged list takes `paginationQuerySchema` and answers `listEnvelopeSchema(item)`, both from
// src/routes/pagination.ts (one source for the handlers, the UI and this document). Here only what is not such a list.

export { intQuery } from '../../pagination.js';

/** A scan report's findings: one report in memory, paged by number (`limit`/`page_size`, `page`). */
export const pageQuery = paginationQuerySchema.pick({ limit: true, page_size: true, page: true });

/** `limit`, `page` and the offset from a parsed `pageQuery`. */
export const pageOf = (q: { limit?: number; page?: number; page_size?: number }, defaultLimit = 20) => {
  const limit = q.limit ?? q.page_size ?? defaultLimit;
  const page = q.page ?? 1;
  return { page, limit, offset: (page - 1) * limit };
};

// ---------------------------------------------------------------------------------------------------------------
// Path parameters.

/** A numeric id in the path (anything else names nothing: 404). */
export const idParam = z
  .string()
  .regex(/^\d{1,15}$/)
  .transform(Number);
export const nameParam = z.string().min(1).max(255);
export const projectParams = z.object({ project: nameParam.describe('project name') });
export const repoParams = projectParams.extend({ repo: z.string().min(1).describe('repository path after the project, `/` URL-encoded') });
export const artifactParams = repoParams.extend({ reference: z.string().min(1).describe('a tag or a digest') });

// ---------------------------------------------------------------------------------------------------------------
// Resources.

export const severity = z.enum(SEVERITIES);
export const role = z.enum(ROLES);

export const userSchema = component(
  'User',
  z.object({
    id,
    username: z.string(),
    email: z.string().nullable(),
    admin: z.boolean(),
    disabled: z.boolean(),
    auth_source: z.enum(AUTH_MODES).describe('where the user signs in'),
    created_at: nullableTime,
    updated_at: nullableTime,
  }),
);

export const signatureKey = z.object({ name: z.string(), pem: z.string().describe('cosign public key, PEM (ECDSA P-256 or Ed25519)') });

export const projectSchema = component(
  'Project',
  z.object({
    id,
    name: z.string(),
    public: z.boolean(),
    auto_scan: z.boolean(),
    prevent_vulnerable: z.boolean(),
    severity: z.enum(GATE_SEVERITIES).describe('the pull gate refuses findings at or above this severity'),
    cve_allowlist: z.array(z.string()),
    immutable_tags: z.array(z.string()),
    quota_bytes: count.nullable(),
    unscanned_policy: z.enum(UNSCANNED_POLICIES),
    cve_allowlist_expires_at: nullableTime,
    signature_keys: z.array(signatureKey),
    require_signature: z.boolean().describe('serve only artifacts signed by one of signature_keys (412 PROJECTPOLICYVIOLATION otherwise)'),
    created_at: nullableTime,
    updated_at: nullableTime,
  }),
);

export const projectDetailSchema = component(
  'ProjectDetail',
  projectSchema.extend({ current_user_role: role.nullable().describe('the caller’s role in the project, null for none'), usage_bytes: count }),
);

export const memberSchema = component(
  'Member',
  z.discriminatedUnion('member_type', [
    z.object({ member_type: z.literal('user'), user_id: id, username: z.string(), role, created_at: nullableTime }),
    z.object({ member_type: z.literal('group'), id, group: z.string(), role, created_at: nullableTime }),
  ]),
);

export const repositorySchema = component(
  'Repository',
  z.object({
    id,
    name: z.string().describe('the full name, project/repo'),
    project: z.string(),
    repo: z.string().describe('the name after the project'),
    artifact_count: count,
    pull_count: count,
    created_at: nullableTime,
    updated_at: nullableTime,
  }),
);

export const repositoryDetailSchema = component('RepositoryDetail', z.object({ id, name: z.string(), pull_count: count, created_at: nullableTime, updated_at: nullableTime }));

export const artifactSchema = component(
  'Artifact',
  z.object({
    id,
    digest: z.string(),
    media_type: z.string(),
    type: z.string().describe('image, index, chart, sif, signature, attestation, sbom, wasm or artifact'),
    artifact_type: z.string().nullable().describe('the manifest’s OCI 1.1 artifactType'),
    config_media_type: z.string().nullable(),
    subject: z.string().nullable().describe('digest this artifact refers to (OCI 1.1 subject or a cosign sha256-<hex>.sig tag)'),
    signed_by: z.array(z.string()).describe('names of the project’s cosign keys that verified its signatures'),
    annotations: z.record(z.string(), z.string()),
    size: count,
    manifest_size: count,
    tags: z
      .array(z.object({ name: z.string(), pushed_at: nullableTime }))
      .describe('the first 20 tags, last pushed first; `tag_count` says how many there are, `GET …/artifacts/{reference}/tags` pages them all'),
    tag_count: count.nullable().describe('how many tags the artifact has: exact up to 1000, null beyond'),
    config_digest: z.string().nullable(),
    os: z.string().nullable(),
    architecture: z.string().nullable(),
    variant: z.string().nullable(),
    created: z.string().nullable(),
    pushed_at: nullableTime,
    pushed_by: z.string().nullable(),
    pulled_at: nullableTime,
    pull_count: count,
    scan_status: z.enum(COMPLETENESS).nullable().describe('the last finished scan’s completeness, null when none'),
  }),
);

export const referrerSchema = component(
  'Referrer',
  z.object({
    digest: z.string(),
    type: z.string(),
    artifact_type: z.string().nullable(),
    media_type: z.string(),
    size: count,
    signed_by: z.array(z.string()),
    tags: z.array(z.string()).describe('the first 20 tag names'),
    tag_count: count.nullable().describe('how many tags it has: exact up to 1000, null beyond'),
    pushed_at: nullableTime,
  }),
);

export const artifactTagSchema = component('ArtifactTag', z.object({ name: z.string(), pushed_at: nullableTime }));

export const artifactDetailSchema = component(
  'ArtifactDetail',
  artifactSchema.extend({
    referrers: z.array(referrerSchema).describe('the oldest 20 referrers; `referrer_count` says how many there are, `GET …/artifacts/{reference}/referrers` pages them all'),
    referrer_count: count.nullable().describe('how many referrers the artifact has: exact up to 1000, null beyond'),
    blobs: z.array(z.object({ digest: z.string(), media_type: z.string(), size: count })),
    children: z.array(z.object({ digest: z.string(), media_type: z.string(), size: count, platform: z.string().nullable() })),
  }),
);

export const tagSchema = component('Tag', z.object({ name: z.string(), digest: z.string(), pushed_at: nullableTime }));

export const jobSchema = component(
  'Job',
  z.object({
    id,
    type: z.string(),
    status: z.enum(JOB_STATES),
    progress: z.number(),
    progress_text: z.string().nullable(),
    attempt: count,
    max_attempts: count,
    priority: z.number().int(),
    payload: z.unknown(),
    result: z.unknown(),
    error: z.string().nullable(),
    created_at: nullableTime,
    updated_at: nullableTime,
    run_at: nullableTime,
    started_at: nullableTime,
    finished_at: nullableTime,
  }),
);

export const scheduleSchema = component(
  'Schedule',
  z.object({
    name: z.string(),
    cron: z.string(),
    enabled: z.boolean(),
    job_type: z.string(),
    last_fire_at: nullableTime.describe('the last fire that enqueued a job'),
    last_job_id: id.nullable(),
    next_runs: z.array(time),
    updated_at: nullableTime,
  }),
);

export const findingSchema = component(
  'Finding',
  z.object({
    id: z.string().describe('the advisory id'),
    aliases: z.array(z.string()),
    advisories: z.array(z.string()),
    severity,
    cvss_score: z.number().nullable(),
    cvss_vector: z.string().nullable(),
    package: z.string(),
    type: z.string(),
    installed_version: z.string(),
    source_package: z.string().nullable(),
    source_version: z.string().nullable(),
    fixed_version: z.string().nullable(),
    summary: z.string().nullable(),
    links: z.array(z.string()),
    path: z.string(),
  }),
);

export const reportSchema = component(
  'VulnerabilityReport',
  z.object({
    artifact: z.string(),
    status: z.enum(['running', 'success', 'error']),
    scanner: z.string(),
    db_updated_at: nullableTime,
    started_at: nullableTime,
    finished_at: nullableTime,
    os: z.string().nullable(),
    summary: z.object({ critical: count, high: count, medium: count, low: count, unknown: count, total: count, fixable: count }),
    completeness: z.enum(COMPLETENESS),
    gaps: z.array(z.object({ layer: z.string().optional(), path: z.string().optional(), reason: z.string() })),
    problems: z.array(z.string()),
    error: z.string().nullable(),
    items: z.array(findingSchema),
    total: count.describe('matching findings'),
    page: z.number().int().min(1).optional().describe('present when the request paged by number'),
    limit: z.number().int().min(1),
    next_cursor: z.string().nullable().describe('pass as `cursor` for the next page of findings; null on the last page'),
    prev_cursor: z.string().nullable().describe('pass as `cursor` for the previous page; null on the first page'),
  }),
);

export const webhookSchema = component(
  'WebhookPolicy',
  z.object({
    id,
    name: z.string(),
    url: z.string(),
    format: z.enum(WEBHOOK_FORMATS),
    event_types: z.array(z.enum(EVENT_TYPES)),
    has_auth_header: z.boolean(),
    has_secret: z.boolean(),
    skip_tls_verify: z.boolean(),
    enabled: z.boolean(),
    last_triggered_at: nullableTime,
    created_by: z.string().nullable(),
    created_at: nullableTime,
    updated_at: nullableTime,
  }),
);

export const deliverySchema = component(
  'WebhookDelivery',
  z.object({
    id,
    job_id: id.nullable(),
    event_id: z.string(),
    event_type: z.string(),
    attempt: count,
    status_code: z.number().int().nullable(),
    latency_ms: count.nullable(),
    error: z.string().nullable(),
    at: nullableTime,
  }),
);

export const robotSchema = component(
  'Robot',
  z.object({
    id,
    name: z.string(),
    level: z.enum(['system', 'project']),
    description: z.string().nullable(),
    disabled: z.boolean(),
    expires_at: nullableTime,
    permissions: z.array(z.object({ project: z.string(), actions: z.array(z.string()) })),
    created_by: z.string().nullable(),
    created_at: nullableTime,
    updated_at: nullableTime,
  }),
);

export const robotSecretSchema = component('RobotSecret', z.object({ id, name: z.string(), secret: z.string().describe('shown once') }));

export const auditEntrySchema = component(
  'AuditEntry',
  z.object({
    id,
    time,
    username: z.string(),
    action: z.string(),
    resource_type: z.string(),
    resource: z.string(),
    detail: z.unknown(),
    client_ip: z.string().nullable(),
  }),
);

export const hitSchema = component(
  'VulnerabilityHit',
  z.object({
    project: z.string(),
    repository: z.string(),
    digest: z.string(),
    advisory_id: z.string(),
    cve: z.string(),
    package: z.string(),
    package_type: z.string(),
    version: z.string(),
    fixed_version: z.string().nullable(),
    severity: z.string(),
  }),
);

export const retentionPolicyViewSchema = component(
  'RetentionPolicy',
  z.object({
    rules: z.array(
      z.object({
        repositories: z.string(),
        exclude_repositories: z.string().optional(),
        tags: z.string(),
        exclude_tags: z.string().optional(),
        untagged: z.boolean(),
        retain: z.object({ kind: z.string(), count: z.number().int().optional(), days: z.number().int().optional() }),
      }),
    ),
    schedule: z.string().nullable(),
    next_runs: z.array(time),
    updated_at: nullableTime,
  }),
);

export const retentionRunSchema = component(
  'RetentionRun',
  z.object({
    id: id.describe('the job id'),
    status: z.enum(JOB_STATES),
    dry_run: z.boolean(),
    trigger: z.enum(RETENTION_TRIGGERS),
    progress: z.number(),
    error: z.string().nullable(),
    created_at: nullableTime,
    started_at: nullableTime,
    finished_at: nullableTime,
    total: count.nullable().describe('artifacts the run looked at; null until it has'),
    retained: count.nullable(),
    deleted_count: count.nullable().describe('deleted, or for a dry run would be deleted'),
    failed_count: count.nullable(),
    bytes: count.nullable().describe('the deleted artifacts’ sizes (blobs are freed by the next garbage collection)'),
  }),
);

export const retentionRunItemSchema = component(
  'RetentionRunItem',
  z.object({
    outcome: z.enum(RETENTION_OUTCOMES),
    repository: z.string().describe('project/repo'),
    digest: z.string(),
    tags: z.array(z.string()).describe('the first 10 of the artifact’s tags (tag_count says how many it had)'),
    tag_count: count,
    size: count,
    reason: z.string(),
    error: z.string().nullable(),
  }),
);

export const scannerRegistrationSchema = component(
  'ScannerRegistration',
  z.object({ name: z.string(), url: z.string().optional().describe('system admins only'), created_at: nullableTime.optional(), updated_at: nullableTime.optional() }),
);

export const adapterScannerSchema = z.looseObject({ name: z.string(), vendor: z.string().optional(), version: z.string().optional() });

export const allowlistSchema = component('CveAllowlist', z.object({ items: z.array(z.string()), expires_at: nullableTime }));

export const outboundRulesSchema = component('OutboundRules', z.object({ allow: z.array(z.string()).describe('IPs or CIDRs, optionally :port'), deny: z.array(z.string()) }));

export const authSettingsViewSchema = component(
  'AuthSettings',
  z.object({
    mode: z.enum(AUTH_MODES),
    ldap: z.looseObject({ bind_password_set: z.enum(['settings', 'environment']).nullable().describe('where the bind password comes from; never shown') }),
    oidc: z.looseObject({ client_secret_set: z.enum(['settings', 'environment']).nullable(), redirect_uri_path: z.string() }),
  }),
);

export const importStatsSchema = component('ImportStats', z.object({ imported: count, updated: count, unchanged: count, withdrawn: count, invalid: count, errors: z.array(z.string()) }));

export const healthSchema = component(
  'Health',
  z.object({
    status: z.enum(['ok', 'degraded']),
    components: z.record(z.string(), z.object({ status: z.enum(['ok', 'down']), detail: z.string().optional() })),
  }),
);
