import { CloudEvent, HTTP } from 'cloudevents';
import type { TFunction } from 'i18next';
import { createI18n, type Locale } from '../i18n/index.js';
import { signatureHeader } from '../net/webhook-send.js';

/** Harbor's webhook event types, by Harbor's names. */
export const EVENT_TYPES = [
  'PUSH_ARTIFACT',
  'PULL_ARTIFACT',
  'DELETE_ARTIFACT',
  'SCANNING_COMPLETED',
  'SCANNING_FAILED',
  'SCANNING_STOPPED',
  'QUOTA_EXCEED',
  'QUOTA_WARNING',
  'TAG_RETENTION',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const WEBHOOK_FORMATS = ['default', 'cloudevents', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** CloudEvents `type` per event, as Harbor names them. */
const CLOUDEVENT_TYPES: Record<EventType, string> = {
  PUSH_ARTIFACT: 'harbor.artifact.pushed',
  PULL_ARTIFACT: 'harbor.artifact.pulled',
  DELETE_ARTIFACT: 'harbor.artifact.deleted',
  SCANNING_COMPLETED: 'harbor.scan.completed',
  SCANNING_FAILED: 'harbor.scan.failed',
  SCANNING_STOPPED: 'harbor.scan.stopped',
  QUOTA_EXCEED: 'harbor.quota.exceeded',
  QUOTA_WARNING: 'harbor.quota.warning',
  TAG_RETENTION: 'harbor.tag_retention.finished',
};

/** A scan's outcome as Harbor's `scan_overview` carries it. */
export interface ScanOverview {
  reportId: string;
  status: 'Success' | 'Error' | 'Stopped';
  /** highest severity found, Harbor's capitalisation (`Critical` … `None`) */
  severity: string;
  durationSeconds: number;
  total: number;
  fixable: number;
  summary: Record<string, number>;
  startTime: string | null;
  endTime: string | null;
  scanner: string;
}

export interface EventResource {
  digest: string;
  tag?: string;
  scanOverview?: ScanOverview;
}

/**
 * What happened, captured when it happened (a delivery retried later sends the same content). `id` is unique per event
 * and policy-independent: it de-duplicates enqueues of the same event.
 */
export interface WebhookEvent {
  id: string;
  type: EventType;
  /** epoch milliseconds */
  occurAt: number;
  operator: string;
  project: { id: number; name: string; public: boolean };
  /** full repository name `project/repo`, or null for project-wide events (retention) */
  repository: string | null;
  resources: EventResource[];
  /** event-specific facts: quota numbers, a retention run's result */
  details?: Record<string, unknown>;
}

export interface RenderedDelivery {
  headers: Record<string, string>;
  body: string;
}

const SCAN_MIME = 'application/vnd.security.vulnerability.report; version=1.1';

/** The `event_data` Harbor sends: resources and the repository, plus what the event type adds. */
function eventData(e: WebhookEvent, registryHost: string): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (e.resources.length || e.repository) {
    data.resources = e.resources.map((r) => ({
      digest: r.digest,
      tag: r.tag ?? '',
      resource_url: e.repository ? `${registryHost}/${e.repository}${r.tag ? `:${r.tag}` : `@${r.digest}`}` : '',
      ...(r.scanOverview
        ? {
            scan_overview: {
              [SCAN_MIME]: {
                report_id: r.scanOverview.reportId,
                scan_status: r.scanOverview.status,
                severity: r.scanOverview.severity,
                duration: r.scanOverview.durationSeconds,
                summary: { total: r.scanOverview.total, fixable: r.scanOverview.fixable, summary: r.scanOverview.summary },
                start_time: r.scanOverview.startTime,
                end_time: r.scanOverview.endTime,
                scanner: { name: r.scanOverview.scanner, vendor: 'Berth', version: '1' },
                complete_percent: r.scanOverview.status === 'Success' ? 100 : 0,
              },
            },
          }
        : {}),
    }));
  }
  if (e.repository) {
    const name = e.repository.slice(e.project.name.length + 1);
    data.repository = { date_created: Math.floor(e.occurAt / 1000), name, namespace: e.project.name, repo_full_name: e.repository, repo_type: e.project.public ? 'public' : 'private' };
  }
  if (e.type === 'TAG_RETENTION' && e.details) data.retention = e.details;
  else if ((e.type === 'QUOTA_EXCEED' || e.type === 'QUOTA_WARNING') && e.details) data.custom_attributes = e.details;
  else if (e.details) data.custom_attributes = e.details;
  return data;
}

/** The `slack.*` message key of each event's sentence. */
const SLACK_KEYS: Record<EventType, string> = {
  PUSH_ARTIFACT: 'slack.push_artifact',
  PULL_ARTIFACT: 'slack.pull_artifact',
  DELETE_ARTIFACT: 'slack.delete_artifact',
  SCANNING_COMPLETED: 'slack.scanning_completed',
  SCANNING_FAILED: 'slack.scanning_failed',
  SCANNING_STOPPED: 'slack.scanning_stopped',
  QUOTA_EXCEED: 'slack.quota_exceed',
  QUOTA_WARNING: 'slack.quota_warning',
  TAG_RETENTION: 'slack.tag_retention',
};

// One catalogue instance for every delivery: fixed-language functions are cheap, loading is not.
const i18n = createI18n();

/** A one-line description for chat targets, in `t`'s language (the event type stays Harbor's name). */
function sentence(e: WebhookEvent, t: TFunction): string {
  const what = e.resources[0] ? `${e.repository}${e.resources[0].tag ? `:${e.resources[0].tag}` : `@${e.resources[0].digest.slice(0, 19)}`}` : e.project.name;
  const o = e.resources[0]?.scanOverview;
  const params: Record<string, string | number> = { what, operator: e.operator };
  let key = SLACK_KEYS[e.type];
  if (o && e.type === 'SCANNING_COMPLETED') {
    key = 'slack.scanning_completed_summary';
    Object.assign(params, { count: o.total, severity: o.severity });
  }
  if (e.type === 'TAG_RETENTION' && e.details) {
    key = 'slack.tag_retention_summary';
    Object.assign(params, { deleted: String(e.details.deleted ?? 0), total: String(e.details.total ?? 0) });
  }
  return t(key, params);
}

/**
 * The HTTP body and headers a policy sends for an event: `default` is Harbor's JSON (`type`, `occur_at` in seconds,
 * `operator`, `event_data`), `cloudevents` a CloudEvents 1.0 structured-mode JSON document (the `cloudevents`
 * package, Harbor's `type` names, `source` = the policy), `slack` an incoming-webhook message in `locale` (the site's
 * default language; English unless given). With a secret the body
 * is signed: `X-Berth-Signature: sha256=<hex HMAC>` over the exact bytes sent. `Authorization` carries the policy's
 * auth header.
 */
export function renderDelivery(
  e: WebhookEvent,
  policy: { id: number; format: WebhookFormat; authHeader: string | null; secret: string | null },
  registryHost: string,
  locale: Locale = 'en',
): RenderedDelivery {
  let headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'berth-webhooks' };
  let body: string;
  if (policy.format === 'cloudevents') {
    const ce = new CloudEvent({
      specversion: '1.0',
      id: e.id,
      source: `/projects/${e.project.id}/webhook/policies/${policy.id}`,
      type: CLOUDEVENT_TYPES[e.type],
      time: new Date(e.occurAt).toISOString(),
      datacontenttype: 'application/json',
      data: eventData(e, registryHost),
      operator: e.operator,
    });
    const m = HTTP.structured(ce);
    body = String(m.body);
    headers = { ...headers, ...(m.headers as Record<string, string>) };
  } else if (policy.format === 'slack') {
    const text = `[${e.type}] ${sentence(e, i18n.getFixedT(locale))}`;
    body = JSON.stringify({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
  } else {
    body = JSON.stringify({ type: e.type, occur_at: Math.floor(e.occurAt / 1000), operator: e.operator, event_data: eventData(e, registryHost) });
  }
  headers['x-berth-event'] = e.type;
  headers['x-berth-delivery'] = e.id;
  if (policy.authHeader) headers.authorization = policy.authHeader;
  if (policy.secret) headers['x-berth-signature'] = signatureHeader(policy.secret, body);
  return { headers, body };
}
