import { Hono } from 'hono';
import type { AppEnv, Services } from '../../../context.js';

type Op = [method: 'get' | 'post' | 'put' | 'delete', path: string, summary: string, tag: string, ok: number];

/** Every REST operation, once. A test checks this table against the routes the app really serves. */
export const OPERATIONS: Op[] = [
  ['get', '/health', 'Readiness of each component', 'system', 200],
  ['get', '/users', 'List users (search with q)', 'users', 200],
  ['post', '/users', 'Create a user', 'users', 201],
  ['get', '/users/current', 'The signed-in user', 'users', 200],
  ['get', '/users/{id}', 'Get a user', 'users', 200],
  ['post', '/users/current/cli-secret', 'A new CLI secret for the signed-in OIDC user (the docker password; shown once)', 'users', 200],
  ['get', '/users/current/groups', 'The directory groups of the signed-in user (from their last sign-in)', 'users', 200],
  ['put', '/users/{id}', 'Disable, enable, make or unmake system admin', 'users', 200],
  ['delete', '/users/{id}', 'Delete a user', 'users', 204],
  ['put', '/users/{id}/password', 'Change a password', 'users', 204],
  ['get', '/projects', 'List the projects the caller can see', 'projects', 200],
  ['post', '/projects', 'Create a project', 'projects', 201],
  ['get', '/projects/{project}', 'Get a project (with usage and the caller’s role)', 'projects', 200],
  ['put', '/projects/{project}', 'Change project settings and policy', 'projects', 200],
  ['delete', '/projects/{project}', 'Delete a project (force=true when it has repositories)', 'projects', 204],
  ['get', '/projects/{project}/members', 'List members', 'members', 200],
  ['post', '/projects/{project}/members', 'Add a member: {username, role} or a directory group {group, role}', 'members', 201],
  ['put', '/projects/{project}/members/groups/{id}', 'Change a group member’s role', 'members', 204],
  ['delete', '/projects/{project}/members/groups/{id}', 'Remove a group member', 'members', 204],
  ['put', '/projects/{project}/members/{userId}', 'Change a member’s role', 'members', 204],
  ['delete', '/projects/{project}/members/{userId}', 'Remove a member', 'members', 204],
  ['get', '/projects/{project}/repositories', 'List repositories', 'repositories', 200],
  ['get', '/projects/{project}/repositories/{repo}', 'Get a repository ({repo} URL-encoded)', 'repositories', 200],
  ['delete', '/projects/{project}/repositories/{repo}', 'Delete a repository and its artifacts', 'repositories', 204],
  ['get', '/projects/{project}/repositories/{repo}/artifacts', 'List artifacts with tags, size, push and pull times', 'artifacts', 200],
  ['get', '/projects/{project}/repositories/{repo}/artifacts/{reference}', 'Get an artifact by tag or digest', 'artifacts', 200],
  ['delete', '/projects/{project}/repositories/{repo}/artifacts/{reference}', 'Delete an artifact', 'artifacts', 204],
  ['post', '/projects/{project}/repositories/{repo}/artifacts/{reference}/scan', 'Scan an artifact (202 and the job)', 'scans', 202],
  ['get', '/projects/{project}/repositories/{repo}/artifacts/{reference}/vulnerabilities', 'The latest report (404 until one exists; format=csv for CSV)', 'scans', 200],
  ['get', '/projects/{project}/repositories/{repo}/artifacts/{reference}/sbom', 'CycloneDX 1.5 SBOM', 'scans', 200],
  ['get', '/projects/{project}/repositories/{repo}/tags', 'List tags', 'artifacts', 200],
  ['delete', '/projects/{project}/repositories/{repo}/tags/{tag}', 'Delete a tag (the artifact stays)', 'artifacts', 204],
  ['get', '/projects/{project}/scanner', 'The project’s external scanner adapter', 'scans', 200],
  ['put', '/projects/{project}/scanner', 'Register an external scanner adapter for the project', 'scans', 200],
  ['delete', '/projects/{project}/scanner', 'Remove the project’s adapter', 'scans', 204],
  ['get', '/projects/{project}/webhooks', 'List the project’s webhook policies', 'webhooks', 200],
  ['post', '/projects/{project}/webhooks', 'Create a webhook policy {url, format, event_types, auth_header?, secret?, skip_tls_verify?, enabled?}', 'webhooks', 201],
  ['get', '/projects/{project}/webhooks/{id}', 'Get a webhook policy', 'webhooks', 200],
  ['put', '/projects/{project}/webhooks/{id}', 'Change a webhook policy', 'webhooks', 200],
  ['delete', '/projects/{project}/webhooks/{id}', 'Delete a webhook policy', 'webhooks', 204],
  ['get', '/projects/{project}/webhooks/{id}/deliveries', 'The policy’s delivery log (status code, latency; cursor)', 'webhooks', 200],
  ['post', '/projects/{project}/webhooks/{id}/test', 'Send a sample event now and answer how it went', 'webhooks', 200],
  ['get', '/projects/{project}/retention', 'The project’s tag retention policy (rules, schedule, next runs)', 'retention', 200],
  ['put', '/projects/{project}/retention', 'Set the tag retention policy {rules: [{repositories, exclude_repositories?, tags, exclude_tags?, untagged, retain: {kind, count?, days?}}], schedule}', 'retention', 200],
  ['post', '/projects/{project}/retention/run', 'Run tag retention {dry_run} (202 and the job; its result lists what was or would be deleted)', 'retention', 202],
  ['get', '/robots', 'List robot accounts (project= for a project’s)', 'robots', 200],
  ['post', '/robots', 'Create a robot account (the secret is shown once)', 'robots', 201],
  ['get', '/robots/{id}', 'Get a robot account', 'robots', 200],
  ['put', '/robots/{id}', 'Change permissions, expiry, disable', 'robots', 200],
  ['delete', '/robots/{id}', 'Delete a robot account', 'robots', 204],
  ['post', '/robots/{id}/refresh', 'Issue a new secret', 'robots', 200],
  ['get', '/audit-logs', 'Audit and access log (keyset pagination with cursor)', 'system', 200],
  ['get', '/jobs', 'List jobs (type, status, cursor)', 'jobs', 200],
  ['get', '/jobs/{id}', 'Get a job', 'jobs', 200],
  ['get', '/jobs/{id}/log', 'A job’s log (JSON, or text/plain)', 'jobs', 200],
  ['post', '/jobs/{id}/stop', 'Stop a job', 'jobs', 200],
  ['get', '/schedules', 'List schedules with their next runs', 'jobs', 200],
  ['put', '/schedules/{name}', 'Change a schedule’s cron expression or disable it', 'jobs', 200],
  ['post', '/system/reconcile', 'Reconcile the database with the registry (202 and the job)', 'system', 202],
  ['post', '/system/scan-all', 'Scan every artifact (202 and the job)', 'system', 202],
  ['post', '/system/gc', 'Garbage collection {dry_run, delete_untagged} (202 and the job)', 'system', 202],
  ['get', '/system/cve-allowlist', 'The system CVE allowlist', 'system', 200],
  ['put', '/system/cve-allowlist', 'Set the system CVE allowlist {items, expires_at}', 'system', 200],
  ['get', '/system/auth', 'Sign-in mode and LDAP/OIDC settings (secrets never shown)', 'system', 200],
  ['put', '/system/auth', 'Change the sign-in mode and LDAP/OIDC settings {mode, ldap, oidc}', 'system', 200],
  ['post', '/system/auth/ldap/test', 'Test the LDAP connection, or look up a user {username}', 'system', 200],
  ['get', '/system/scanner', 'The system-wide external scanner adapter', 'system', 200],
  ['put', '/system/scanner', 'Register a system-wide external scanner adapter', 'system', 200],
  ['delete', '/system/scanner', 'Remove the system-wide adapter', 'system', 204],
  ['get', '/vulndb', 'Advisory database status per ecosystem', 'vulnerabilities', 200],
  ['post', '/vulndb/import', 'Import OSV advisories (JSON, zip, or multipart "file")', 'vulnerabilities', 200],
  ['get', '/vulnerabilities', 'Security hub: findings across readable artifacts (cve, package, version range, severity, project; paginated)', 'vulnerabilities', 200],
  ['get', '/vulnerabilities/summary', 'Security hub: totals by severity, top CVEs with affected artifacts, most vulnerable artifacts', 'vulnerabilities', 200],
  ['get', '/openapi.json', 'This document', 'system', 200],
];

/** The OpenAPI 3.1 document of /api/v1, built from OPERATIONS. */
export function openApiDocument(externalUrl: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary, tag, ok] of OPERATIONS) {
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] ??= {};
    paths[path][method] = {
      summary,
      tags: [tag],
      ...(params.length ? { parameters: params } : {}),
      responses: {
        [String(ok)]: { description: 'success' },
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Berth REST API', version: '1' },
    servers: [{ url: `${externalUrl}/api/v1` }],
    security: [{ basic: [] }, { session: [] }],
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'A user or a robot account (robot$…)' },
        session: { type: 'apiKey', in: 'cookie', name: 'berth_session', description: 'The UI session; writes also need the X-CSRF-Token header' },
      },
      schemas: {
        Artifact: {
          type: 'object',
          description: 'An artifact (GET …/artifacts and …/artifacts/{reference}); the single artifact adds blobs, children and referrers',
          properties: {
            digest: { type: 'string' },
            media_type: { type: 'string' },
            type: { type: 'string', enum: ['image', 'index', 'chart', 'sif', 'signature', 'attestation', 'sbom', 'wasm', 'artifact'] },
            artifact_type: { type: ['string', 'null'], description: "the manifest's OCI 1.1 artifactType" },
            config_media_type: { type: ['string', 'null'] },
            subject: { type: ['string', 'null'], description: 'digest this artifact refers to (OCI 1.1 subject or a cosign sha256-<hex>.sig tag)' },
            signed_by: { type: 'array', items: { type: 'string' }, description: "names of the project's cosign keys that verified its signatures (for a signature: the keys it verifies with)" },
            annotations: { type: 'object', additionalProperties: { type: 'string' } },
            tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, pushed_at: { type: 'string' } } } },
            size: { type: 'integer' },
          },
        },
        ProjectSettings: {
          type: 'object',
          description: 'PUT /projects/{project}: any of these',
          properties: {
            public: { type: 'boolean' },
            auto_scan: { type: 'boolean' },
            prevent_vulnerable: { type: 'boolean' },
            severity: { type: 'string', enum: ['low', 'medium', 'high', 'critical'] },
            unscanned_policy: { type: 'string', enum: ['block', 'allow'] },
            cve_allowlist: { type: 'array', items: { type: 'string' } },
            cve_allowlist_expires_at: { type: ['string', 'null'], format: 'date-time' },
            immutable_tags: { type: 'array', items: { type: 'string' } },
            quota_bytes: { type: ['integer', 'null'] },
            signature_keys: {
              type: 'array',
              maxItems: 20,
              items: { type: 'object', properties: { name: { type: 'string' }, pem: { type: 'string', description: 'cosign public key, PEM (ECDSA P-256 or Ed25519)' } }, required: ['name', 'pem'] },
            },
            require_signature: { type: 'boolean', description: 'serve only artifacts signed by one of signature_keys (412 PROJECTPOLICYVIOLATION otherwise)' },
          },
        },
        Errors: {
          type: 'object',
          properties: { errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } } },
        },
      },
    },
    paths,
  };
}

export function openApiRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const doc = openApiDocument(services.config.externalUrl);
  r.get('/openapi.json', (c) => c.json(doc));
  return r;
}
