import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import type { JobEvent } from '../jobs/runner.js';
import { CORE_SUBJECT } from '../registry/constants.js';
import { SEVERITIES } from '../scanner/severity.js';
import type { PolicyService } from './policy-service.js';
import type { RegistrySync } from './registry-sync.js';
import type { ScanReport, ScanService } from './scan-service.js';
import type { ScanOverview } from './webhook-payloads.js';
import type { WebhookService } from './webhook-service.js';

const projectOf = (repository: string) => repository.split('/')[0]!;
/** Core's own registry calls (API and UI deletions, retention) are Berth's doing. */
const operatorName = (who: string | undefined) => (!who || who === CORE_SUBJECT ? 'berth' : who);

const CAPITAL: Record<string, string> = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', unknown: 'Unknown' };

/** Harbor's `scan_overview` of a report. */
export function scanOverview(r: ScanReport | undefined, status: ScanOverview['status'], jobId: number): ScanOverview {
  const counts = r?.counts ?? { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
  const summary: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts)) if (v) summary[CAPITAL[k]!] = v;
  const highest = SEVERITIES.find((s) => counts[s] > 0);
  const total = Object.values(counts).reduce((n, v) => n + v, 0);
  return {
    reportId: `${r?.artifactId ?? 0}-${jobId}`,
    status,
    severity: highest ? CAPITAL[highest]! : 'None',
    durationSeconds: r?.finishedAt && r.startedAt ? Math.max(0, Math.round((r.finishedAt - r.startedAt) / 1000)) : 0,
    total,
    fixable: r?.fixable ?? 0,
    summary,
    startTime: r?.startedAt ? new Date(r.startedAt).toISOString() : null,
    endTime: r?.finishedAt ? new Date(r.finishedAt).toISOString() : null,
    scanner: r?.scanner ?? 'berth-osv',
  };
}

/**
 * Connects the event sources to project webhooks: pushes, pulls and deletions as the registry reports them, finished
 * scans (job status changes), quota refusals and warnings at manifest PUT. Each listener only enqueues.
 */
export function connectWebhookEvents(d: {
  db: DB;
  sync: RegistrySync;
  policy: PolicyService;
  scans: ScanService;
  webhooks: WebhookService;
  scanJobType: string;
  onJobChange(fn: (e: JobEvent) => void | Promise<void>): void;
}): void {
  const { db, webhooks } = d;
  d.sync.onPushed.push(async (a) => {
    await webhooks.emit({
      id: a.eventId ? `push:${a.eventId}` : `import:${a.artifactId}`,
      type: 'PUSH_ARTIFACT',
      occurAt: Date.now(),
      operator: operatorName(a.operator),
      project: projectOf(a.repository),
      repository: a.repository,
      resources: [{ digest: a.digest, tag: a.tag }],
    });
  });
  d.sync.onPulled.push(async (a) => {
    await webhooks.emit({
      id: `pull:${a.eventId}`,
      type: 'PULL_ARTIFACT',
      occurAt: a.at,
      operator: operatorName(a.operator),
      project: projectOf(a.repository),
      repository: a.repository,
      resources: [{ digest: a.digest, tag: a.tag }],
    });
  });
  d.sync.onDeleted.push(async (a) => {
    await webhooks.emit({
      id: `delete:${a.eventId}`,
      type: 'DELETE_ARTIFACT',
      occurAt: a.at,
      operator: operatorName(a.operator),
      project: projectOf(a.repository),
      repository: a.repository,
      resources: [{ digest: a.digest }],
    });
  });
  d.policy.onQuota.push((q) => {
    void webhooks.emit({
      id: `quota:${q.exceeded ? 'exceed' : 'warning'}:${q.project.id}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}`,
      type: q.exceeded ? 'QUOTA_EXCEED' : 'QUOTA_WARNING',
      occurAt: Date.now(),
      operator: 'berth',
      project: q.project,
      repository: q.repository,
      resources: !q.reference ? [] : q.reference.startsWith('sha256:') ? [{ digest: q.reference }] : [{ digest: '', tag: q.reference }],
      details: {
        used_bytes: q.usedBytes,
        push_bytes: q.addedBytes,
        quota_bytes: q.quotaBytes,
        details: q.exceeded ? 'the push would exceed the project storage quota' : 'the project has used 85 % of its storage quota',
      },
    });
  });
  d.onJobChange(async (e) => {
    if (e.job.type !== d.scanJobType) return;
    const status = e.to === 'success' ? 'Success' : e.to === 'error' ? 'Error' : e.to === 'stopped' ? 'Stopped' : null;
    if (!status) return;
    const p = e.job.payload as { repository?: string; digest?: string };
    if (!p.repository || !p.digest) return;
    const repo = await art.findRepository(db, p.repository);
    const artifactId = repo ? await art.findArtifactId(db, repo.id, p.digest) : undefined;
    const report = artifactId !== undefined ? await d.scans.report(artifactId) : undefined;
    const tag = artifactId !== undefined ? (await art.tagPreviews(db, [artifactId], 1)).get(artifactId)?.tags[0]?.name : undefined;
    await webhooks.emit({
      id: `scan:${e.job.id}:${e.to}`,
      type: status === 'Success' ? 'SCANNING_COMPLETED' : status === 'Error' ? 'SCANNING_FAILED' : 'SCANNING_STOPPED',
      occurAt: e.job.finishedAt ?? Date.now(),
      operator: 'berth',
      project: projectOf(p.repository),
      repository: p.repository,
      resources: [{ digest: p.digest, tag, scanOverview: scanOverview(report, status, e.job.id) }],
    });
  });
}
