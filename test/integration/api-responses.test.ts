import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { replaceReportFindings } from '../../src/db/repos/findings.js';
import { OPERATIONS } from '../../src/routes/api/v1/openapi.js';
import { ADMIN, createUser, startTestApp, type RequestOptions, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { seen } from '../helpers/openapi.js';
import { startReceiver } from '../helpers/receiver.js';
import { insertScanReportRow, manifestFacts, projectId } from '../helpers/seed.js';

/**
 * Every REST operation, called through the app on each database. TestApp.req checks every answer against the
 * OpenAPI document (status documented, JSON body valid against its schema), so this walk fails on any drift between
 * the handlers and the document; at the end, every documented operation must have answered with a success.
 */

// Operations that need something this test does not run; their success cases are exercised (and checked the same
// way, through Instance.api) by the named e2e suites.
const ELSEWHERE: Record<string, string> = {
  'GET /health': 'a started registry and job runner (e2e/managed-start); here it answers 503 with its body',
  'DELETE /projects/{project}/repositories/{repo}': 'a registry (e2e/deletion)',
  'DELETE /projects/{project}/repositories/{repo}/artifacts/{reference}': 'a registry (e2e/deletion)',
  'DELETE /projects/{project}/repositories/{repo}/tags/{tag}': 'a registry (e2e/deletion)',
  'POST /scanners': 'a scanner adapter (e2e/scanner-adapter)',
  'DELETE /scanners/{name}': 'a scanner adapter (e2e/scanner-adapter)',
  'POST /users/current/cli-secret': 'an OIDC user (e2e/oidc)',
};

const facts = () => manifestFacts({ manifestSize: 420, size: 1234, configDigest: `sha256:${'c'.repeat(64)}`, os: 'linux', architecture: 'amd64', created: '2026-01-01T00:00:00Z', pushedBy: 'admin' });

const findings = [
  {
    advisoryId: 'DEBIAN-CVE-2024-1',
    aliases: ['CVE-2024-1'],
    package: 'libx',
    type: 'deb',
    installedVersion: '1.0-1',
    fixedVersion: '1.0-2',
    severity: 'high',
    cvssScore: 7.5,
    cvssVector: null,
    summary: 'a flaw',
    links: ['https://security.example/CVE-2024-1'],
    path: 'var/lib/dpkg/status',
  },
  {
    advisoryId: 'GHSA-aaaa-bbbb-cccc',
    aliases: [],
    package: 'lodash',
    type: 'npm',
    installedVersion: '4.0.0',
    fixedVersion: null,
    severity: 'critical',
    cvssScore: null,
    cvssVector: null,
    summary: null,
    links: [],
    path: 'app/node_modules/lodash/package.json',
  },
];

for (const dialect of testDialects()) {
  describe(`every REST operation answers as its OpenAPI document says [${dialect}]`, () => {
    let t: TestApp;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      t = await startTestApp(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' });
      rx = await startReceiver();
    });
    after(async () => {
      await rx?.close();
      await t?.close({ drop: true });
    });

    it('walks every operation; each answer validates against the document', async () => {
      seen.clear();
      const call = async (method: string, path: string, expect: number, init: RequestOptions = {}) => {
        const res = await t.req(`/api/v1${path}`, { method, auth: ADMIN, ...init });
        const text = res.status === 204 ? '' : await res.text();
        assert.equal(res.status, expect, `${method} ${path}: ${text.slice(0, 300)}`);
        return text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
      };

      await call('GET', '/health', 503, { auth: undefined });
      await call('GET', '/openapi.json', 200, { auth: undefined });

      // users
      const [name] = await createUser(t, 'walker');
      const users = await call('GET', '/users?q=walk&limit=5&page=1', 200);
      const uid = users.items[0].id;
      await call('POST', '/users', 201, { json: { username: 'walker2', password: 'walker2-pw-123', email: 'w2@example.org', admin: false } });
      await call('GET', '/users/current', 200);
      await call('GET', `/users/${uid}`, 200);
      await call('PUT', `/users/${uid}`, 200, { json: { disabled: false } });
      await call('PUT', `/users/${uid}/password`, 204, { json: { new_password: 'walker-new-pw-456' } });
      await call('GET', '/users/current/groups', 200);
      await call('POST', '/users/current/cli-secret', 400);

      // projects and members
      await call('POST', '/projects', 201, { json: { name: 'walk' } });
      await call('POST', '/projects', 201, { json: { name: 'gone', public: true } });
      await call('GET', '/projects?q=wa&limit=10', 200);
      await call('GET', '/projects/walk', 200);
      await call('PUT', '/projects/walk', 200, { json: { auto_scan: false, severity: 'high', cve_allowlist: ['CVE-2020-1'], quota_bytes: null } });
      await call('POST', '/projects/walk/members', 201, { json: { username: name, role: 'developer' } });
      const group = await call('POST', '/projects/walk/members', 201, { json: { group: 'walkers', role: 'guest' } });
      await call('GET', '/projects/walk/members?limit=10', 200);
      await call('PUT', `/projects/walk/members/${uid}`, 204, { json: { role: 'guest' } });
      await call('PUT', `/projects/walk/members/groups/${group.id}`, 204, { json: { role: 'developer' } });
      await call('DELETE', `/projects/walk/members/groups/${group.id}`, 204);
      await call('DELETE', `/projects/walk/members/${uid}`, 204);
      await call('DELETE', '/projects/gone', 204);

      // repositories, artifacts, tags and a report, written as a push and a scan would write them
      const db = t.db;
      const repoId = await art.ensureRepository(db, await projectId(db, 'walk'), 'walk/app', Date.now());
      const digest = `sha256:${'a'.repeat(64)}`;
      const artifactId = await art.upsertArtifact(db, repoId, digest, facts());
      await art.setTag(db, repoId, artifactId, 'v1', Date.now());
      await insertScanReportRow(db, artifactId, findings, {
        scanner: 'berth',
        db_updated_at: Date.now(),
        started_at: Date.now() - 1000,
        finished_at: Date.now(),
        os: 'debian 12',
        packages: JSON.stringify([{ type: 'deb', name: 'libx', version: '1.0-1' }]),
      });
      await replaceReportFindings(db, artifactId, findings);
      const a = '/projects/walk/repositories/app';
      await call('GET', '/projects/walk/repositories?q=app', 200);
      await call('GET', a, 200);
      await call('GET', `${a}/artifacts?limit=5`, 200);
      await call('GET', `${a}/artifacts/v1`, 200);
      await call('GET', `${a}/artifacts/${digest}`, 200);
      await call('GET', `${a}/tags`, 200);
      await call('GET', `${a}/artifacts/v1/tags?limit=5`, 200);
      await call('GET', `${a}/artifacts/${digest}/referrers?limit=5`, 200);
      const report = await call('GET', `${a}/artifacts/v1/vulnerabilities?severity=high&sort=package&limit=1`, 200);
      assert.equal(report.total, 2);
      assert.match(await call('GET', `${a}/artifacts/v1/vulnerabilities?format=csv`, 200), /libx/);
      await call('GET', `${a}/artifacts/v1/sbom`, 200);
      await call('POST', `${a}/artifacts/v1/scan`, 202);
      await call('GET', '/vulnerabilities?severity=high&limit=5', 200);
      await call('GET', '/vulnerabilities/summary?project=walk', 200);
      // Without a registry, deletions are refused, as documented.
      for (const p of [`${a}/tags/v1`, `${a}/artifacts/v1`, a]) {
        const res = await t.req(`/api/v1${p}`, { method: 'DELETE', auth: ADMIN });
        assert.ok(res.status >= 400, `DELETE ${p}: ${res.status}`);
      }

      // scanners
      await call('GET', '/scanners', 200);
      await call('POST', '/scanners', 400, { json: { name: 'x', url: 'ftp://127.0.0.1/' } });
      await call('DELETE', '/scanners/none', 404);
      await call('GET', '/system/scanner', 200);
      await call('PUT', '/system/scanner', 200, { json: { scanner: null } });
      await call('DELETE', '/system/scanner', 204);
      await call('GET', '/projects/walk/scanner', 200);
      await call('PUT', '/projects/walk/scanner', 200, { json: { scanner: null } });
      await call('DELETE', '/projects/walk/scanner', 204);

      // webhooks
      const hook = await call('POST', '/projects/walk/webhooks', 201, { json: { url: `${rx.url}/hook`, event_types: ['PUSH_ARTIFACT'], secret: 'walk-secret' } });
      await call('GET', '/projects/walk/webhooks', 200);
      await call('GET', `/projects/walk/webhooks/${hook.id}`, 200);
      await call('PUT', `/projects/walk/webhooks/${hook.id}`, 200, { json: { enabled: true, format: 'cloudevents' } });
      const sent = await call('POST', `/projects/walk/webhooks/${hook.id}/test`, 200);
      assert.equal(sent.delivered, true);
      await call('GET', `/projects/walk/webhooks/${hook.id}/deliveries?limit=5`, 200);
      await call('DELETE', `/projects/walk/webhooks/${hook.id}`, 204);

      // retention
      await call('PUT', '/projects/walk/retention', 200, {
        json: { rules: [{ repositories: '**', tags: '**', untagged: true, retain: { kind: 'latest_pushed', count: 3 } }], schedule: '0 3 * * *' },
      });
      await call('GET', '/projects/walk/retention', 200);
      const run = await call('POST', '/projects/walk/retention/run', 202, { json: { dry_run: true } });
      await call('GET', '/projects/walk/retention/runs?limit=5', 200);
      await call('GET', `/projects/walk/retention/runs/${run.id}`, 200);
      await call('GET', `/projects/walk/retention/runs/${run.id}/items?limit=5`, 200);

      // robots
      const robot = await call('POST', '/robots', 201, { json: { name: 'ci', permissions: [{ project: 'walk', actions: ['pull', 'push'] }], duration_days: 30 } });
      await call('GET', '/robots?project=walk', 200);
      await call('GET', `/robots/${robot.id}`, 200);
      await call('PUT', `/robots/${robot.id}`, 200, { json: { description: 'builds', disabled: false } });
      await call('POST', `/robots/${robot.id}/refresh`, 200);
      await call('DELETE', `/robots/${robot.id}`, 204);

      // system
      await call('GET', '/system/cve-allowlist', 200);
      await call('PUT', '/system/cve-allowlist', 200, { json: { items: ['CVE-2024-1'], expires_at: null } });
      await call('GET', '/system/outbound-policy', 200);
      await call('PUT', '/system/outbound-policy', 200, { json: { allow: ['127.0.0.1'], deny: [] } });
      await call('GET', '/system/default-language', 200);
      await call('PUT', '/system/default-language', 200, { json: { language: 'en' } });
      await call('GET', '/system/auth', 200);
      await call('PUT', '/system/auth', 200, { json: { mode: 'db' } });
      await call('POST', '/system/auth/ldap/test', 200);
      await call('POST', '/system/gc', 202, { json: { dry_run: true, delete_untagged: false } });
      await call('POST', '/system/reconcile', 202);
      const job = await call('POST', '/system/scan-all', 202);
      await call('GET', '/vulndb', 200);
      const osv = { id: 'GHSA-walk-walk-walk', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'walk' }, versions: ['1.0.0'] }] };
      await call('POST', '/vulndb/import', 200, { json: osv });

      // jobs and schedules
      await call('GET', '/jobs?limit=2', 200);
      await call('GET', '/jobs?status=pending&type=GARBAGE_COLLECTION', 200);
      await call('GET', `/jobs/${job.id}`, 200);
      await call('GET', `/jobs/${job.id}/log`, 200);
      await call('POST', `/jobs/${job.id}/stop`, 200);
      const schedules = await call('GET', '/schedules', 200);
      await call('PUT', `/schedules/${schedules.items[0].name}`, 200, { json: { enabled: true } });
      await call('GET', '/audit-logs?limit=3&action=create', 200);

      await call('DELETE', `/users/${uid}`, 204);

      // Every documented operation answered, and with a success unless it needs what only e2e suites run.
      const missing: string[] = [];
      for (const o of OPERATIONS) {
        const key = `${o.method.toUpperCase()} ${o.path}`;
        const statuses = [...(seen.get(key) ?? [])];
        if (!statuses.length) missing.push(`${key}: not called`);
        else if (!ELSEWHERE[key] && !statuses.some((s) => s >= 200 && s < 300)) missing.push(`${key}: no success (${statuses.join(', ')})`);
      }
      assert.deepEqual(missing, []);
    });

    it('error answers carry the one error body, with a documented status', async () => {
      assert.equal((await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'errs' } })).status, 201);
      for (const [path, init, status] of [
        ['/api/v1/users', {}, 401],
        ['/api/v1/users/abc', { auth: ADMIN }, 404],
        ['/api/v1/jobs?status=nope', { auth: ADMIN }, 400],
        ['/api/v1/projects', { method: 'POST', auth: ADMIN, body: 'x', headers: { 'content-type': 'text/plain' } }, 415],
        ['/api/v1/projects/errs', { method: 'PUT', auth: ADMIN, json: { severity: 'severe' } }, 400],
        ['/api/v1/nothing-here', { auth: ADMIN }, 404],
      ] as [string, RequestOptions, number][]) {
        const res = await t.req(path, init);
        assert.equal(res.status, status, path);
        assert.ok((await res.json()).errors[0].code, path);
      }
    });
  });
}
