import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { IdentityTables } from './tables-identity.js';

/** Timestamps are UTC epoch milliseconds written by the app (same on both dialects). Flags are 0/1. */
export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  password_hash: string;
  is_admin: number;
  disabled: number;
  created_at: number;
  updated_at: number;
  /** `db`, `ldap` or `oidc` (migration 031) */
  auth_source: Generated<string>;
  external_id: string | null;
  cli_secret_hash: string | null;
}

export interface UserPreferencesTable {
  user_id: number;
  /** a supported UI locale (`en`, `zh-CN`), or null: follow the browser */
  locale: string | null;
  updated_at: number;
}

export interface RolesTable {
  id: number;
  name: string;
}

export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  public: number;
  owner_id: number | null;
  auto_scan: number;
  prevent_vulnerable: number;
  severity: string;
  cve_allowlist: string;
  immutable_tags: string;
  quota_bytes: number | null;
  unscanned_policy: string;
  cve_allowlist_expires_at: number | null;
  /** JSON array of {name, pem}: cosign public keys */
  signature_keys: string | null;
  require_signature: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface ProjectMembersTable {
  id: Generated<number>;
  project_id: number;
  user_id: number;
  role_id: number;
  created_at: number;
}

export interface AuditLogsTable {
  id: Generated<number>;
  created_at: number;
  username: string;
  action: string;
  resource_type: string;
  resource: string;
  detail: string | null;
  client_ip: string;
}

export interface SessionsTable {
  id: string;
  user_id: number;
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

export interface LoginFailuresTable {
  key: string;
  failures: number;
  first_at: number;
  locked_until: number;
}

export interface Database extends RegistryTables, IdentityTables, EventTables {
  users: UsersTable;
  user_preferences: UserPreferencesTable;
  roles: RolesTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  audit_logs: AuditLogsTable;
  sessions: SessionsTable;
  login_failures: LoginFailuresTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type ProjectRow = Selectable<ProjectsTable>;
export type ProjectUpdate = Updateable<ProjectsTable>;
export type AuditLogRow = Selectable<AuditLogsTable>;

export interface NotificationInboxTable {
  id: Generated<number>;
  event_id: string;
  received_at: number;
  payload: string;
  applied_at: number | null;
  attempts: Generated<number>;
  lease_until: number | null;
  error: string | null;
}

export interface RepositoriesTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  pull_count: Generated<number>;
  /** how many artifacts it holds, moved with each artifact insert and delete (migration 230) */
  artifact_count: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface ArtifactsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  manifest_size: number;
  size: number;
  config_digest: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  created: string | null;
  pushed_at: number;
  pulled_at: number | null;
  pull_count: Generated<number>;
  pushed_by: string | null;
  /** one of ARTIFACT_TYPES; null on rows imported before classification existed */
  type: string | null;
  artifact_type: string | null;
  config_media_type: string | null;
  subject_digest: string | null;
  /** JSON object of the manifest's string annotations */
  annotations: string | null;
  /** JSON array: for a signature, the names of the project keys it verified with */
  signed_by: string | null;
}

export interface ArtifactChildrenTable {
  parent_id: number;
  child_digest: string;
  media_type: string;
  size: number;
  platform: string | null;
}

export interface ArtifactBlobsTable {
  artifact_id: number;
  digest: string;
  media_type: string;
  size: number;
  position: number;
}

export interface TagsTable {
  id: Generated<number>;
  repository_id: number;
  artifact_id: number;
  name: string;
  pushed_at: number;
}

export interface RobotsTable {
  id: Generated<number>;
  name: string;
  project_id: number | null;
  description: string | null;
  secret_hash: string;
  disabled: number;
  expires_at: number | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface RobotPermissionsTable {
  robot_id: number;
  project_id: number;
  actions: string;
}

export interface JobsTable {
  id: Generated<number>;
  type: string;
  status: string;
  priority: number;
  unique_key: string | null;
  release_key: number;
  payload: string;
  attempt: number;
  failures: number;
  max_attempts: number;
  run_at: number;
  lease_until: number | null;
  worker_id: string | null;
  stop_requested: number;
  progress: number;
  progress_text: string | null;
  /** a `jobprogress.*` key (191); null on rows written before keys or without a text */
  progress_key: string | null;
  /** the key's parameters, JSON */
  progress_params: string | null;
  error: string | null;
  result: string | null;
  hook_url: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface JobLogsTable {
  id: Generated<number>;
  job_id: number;
  attempt: number;
  at: number;
  level: string;
  message: string;
  /** `joblog.*` message key (null on rows from before keys, shown as `message`) */
  message_key: string | null;
  /** JSON object of the key's parameters */
  message_params: string | null;
}

export interface SchedulesTable {
  name: string;
  cron: string;
  enabled: number;
  job_type: string;
  payload: string;
  last_fire_at: number | null;
  /** the job the last fire that ran created, and its fire time (migration 080) */
  last_job_id: number | null;
  last_job_at: number | null;
  updated_at: number;
}

export interface AdvisoriesTable {
  id: string;
  modified: number;
  published: number | null;
  summary: string | null;
  details: string | null;
  aliases: string;
  upstream: string;
  severity: string;
  cvss_score: number | null;
  cvss_vector: string | null;
  refs: string;
  imported_at: number;
}

export interface AdvisoryPackagesTable {
  id: Generated<number>;
  advisory_id: string;
  ecosystem: string;
  name: string;
  affected: string;
}

export interface LayerInventoriesTable {
  digest: string;
  version: number;
  data: string;
  created_at: number;
}

export interface ScanReportsTable {
  artifact_id: number;
  status: string;
  job_id: number | null;
  scanner: string;
  db_updated_at: number | null;
  started_at: number;
  finished_at: number | null;
  os: string | null;
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  fixable: number;
  findings: string;
  packages: string;
  problems: string;
  error: string | null;
  /** `complete` | `incomplete` | `not_applicable`; null for reports older than the column */
  completeness: string | null;
  /** JSON list of gaps ({layer?, path?, reason}); null for older reports */
  gaps: string | null;
}

/** Per-project counters behind the severity charts (migration 100; moved by src/db/repos/scan-totals.ts). */
export interface ProjectScanTotalsTable {
  project_id: number;
  artifacts: number;
  scanned: number;
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
}

export interface RegistryTables {
  advisories: AdvisoriesTable;
  advisory_packages: AdvisoryPackagesTable;
  vulndb_meta: { name: string; value: string };
  system_settings: { name: string; value: string; updated_at: number };
  scanner_registrations: ScannerRegistrationsTable;
  cache_generations: { name: string; value: number };
  layer_inventories: LayerInventoriesTable;
  scan_reports: ScanReportsTable;
  project_scan_totals: ProjectScanTotalsTable;
  jobs: JobsTable;
  job_logs: JobLogsTable;
  schedules: SchedulesTable;
  notification_inbox: NotificationInboxTable;
  repositories: RepositoriesTable;
  artifacts: ArtifactsTable;
  artifact_children: ArtifactChildrenTable;
  artifact_blobs: ArtifactBlobsTable;
  tags: TagsTable;
  robots: RobotsTable;
  robot_permissions: RobotPermissionsTable;
  registry_writes: RegistryWritesTable;
  quota_reservations: QuotaReservationsTable;
  tag_claims: TagClaimsTable;
}

/** A manifest push a quota check accepted and Berth has not imported yet (sizes in bytes, times epoch ms). */
export interface QuotaReservationsTable {
  id: string;
  project_id: number;
  repository: string;
  digest: string;
  manifest_bytes: number;
  /** what the push added beyond the usage and the other reservations when it was accepted */
  added_bytes: number;
  /** JSON object: blob digest → size, every blob the manifest references */
  blobs: string;
  accepted_at: number;
  expires_at: number;
}

/** An immutable tag a manifest PUT claimed for its digest, until its import (times epoch ms). */
export interface TagClaimsTable {
  repository: string;
  tag: string;
  digest: string;
  /** the PUT holding the claim (a uuid): only it releases the claim when the registry refuses it */
  holder: string;
  claimed_at: number;
  expires_at: number;
}

export interface RegistryWritesTable {
  replica_id: string;
  inflight: number;
  last_ended_at: number;
  heartbeat_at: number;
}

export interface ScannerRegistrationsTable {
  id: Generated<number>;
  name: string;
  url: string;
  authorization: string | null;
  created_at: number;
  updated_at: number;
}
export interface WebhookPoliciesTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  url: string;
  format: string;
  event_types: string;
  auth_header: string | null;
  secret: string | null;
  skip_tls_verify: number;
  enabled: number;
  last_triggered_at: number | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  policy_id: number;
  job_id: number | null;
  event_id: string;
  event_type: string;
  attempt: number;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  at: number;
}

export interface ReportFindingsTable {
  id: Generated<number>;
  artifact_id: number;
  advisory_id: string;
  cve: string;
  package: string;
  package_type: string;
  version: string;
  fixed_version: string | null;
  severity: string;
  severity_rank: number;
}

/** Which project a retention job ran for (migration 150). */
export interface RetentionRunsTable {
  job_id: number;
  project_id: number;
  dry_run: number;
  /** `manual` or `schedule` */
  trigger_kind: string;
  created_at: number;
}

/** One artifact a retention run deleted (`deleted`), would delete (`would_delete`, dry run) or failed to (`failed`). */
export interface RetentionRunItemsTable {
  id: Generated<number>;
  job_id: number;
  outcome: string;
  /** `project/repo` */
  repository: string;
  digest: string;
  /** JSON array of the first tag names (see `tag_count` for how many it had) */
  tags: string;
  tag_count: number;
  size: number;
  reason: string;
  error: string | null;
}

export interface RetentionPoliciesTable {
  project_id: number;
  rules: string;
  schedule: string | null;
  updated_at: number;
}

/** Webhooks, the security hub's findings index, tag retention. */
export interface EventTables {
  webhook_policies: WebhookPoliciesTable;
  webhook_deliveries: WebhookDeliveriesTable;
  report_findings: ReportFindingsTable;
  retention_policies: RetentionPoliciesTable;
  retention_runs: RetentionRunsTable;
  retention_run_items: RetentionRunItemsTable;
}
