import { z } from 'zod';
import type { Finding } from './matcher.js';
import type { Severity } from './severity.js';
import type { OutboundClient } from '../net/outbound.js';

/**
 * A client for the Harbor pluggable scanner adapter API v1.x (https://github.com/goharbor/pluggable-scanner-spec),
 * so a site can plug in a Trivy or Clair adapter instead of the built-in scanner. The adapter's answers are
 * hostile input like any other: validated, bounded, and mapped onto Berth's findings.
 */

export const SCAN_REQUEST_TYPE = 'application/vnd.scanner.adapter.scan.request+json; version=1.0';
export const REPORT_TYPE = 'application/vnd.security.vulnerability.report; version=1.1';

const metadataSchema = z
  .object({
    scanner: z.object({ name: z.string().max(128), vendor: z.string().max(128).optional(), version: z.string().max(64).optional() }).passthrough(),
    capabilities: z.array(z.object({ consumes_mime_types: z.array(z.string().max(255)).max(50), produces_mime_types: z.array(z.string().max(255)).max(50) }).passthrough()).max(20),
  })
  .passthrough();

const vulnSchema = z
  .object({
    id: z.string().min(1).max(128),
    package: z.string().max(255).optional(),
    version: z.string().max(255).optional(),
    fix_version: z.string().max(255).optional().nullable(),
    severity: z.string().max(32).optional(),
    description: z.string().max(20_000).optional().nullable(),
    links: z.array(z.string().max(2048)).max(50).optional().nullable(),
    preferred_cvss: z
      .object({ score_v3: z.number().min(0).max(10).optional().nullable(), vector_v3: z.string().max(255).optional().nullable() })
      .passthrough()
      .optional()
      .nullable(),
  })
  .passthrough();

const reportSchema = z.object({ vulnerabilities: z.array(vulnSchema).max(100_000).nullable().optional() }).passthrough();

export type AdapterMetadata = z.infer<typeof metadataSchema>;

const SEVERITY: Record<string, Severity> = { critical: 'critical', high: 'high', medium: 'medium', low: 'low', negligible: 'low', unknown: 'unknown', none: 'unknown' };

export interface AdapterOptions {
  url: string;
  /** `Authorization` header value the adapter wants, if any */
  authorization?: string;
  timeoutMs?: number;
}

// Answers are read whole into memory, so they are bounded: metadata and scan responses are small; a report of
// 100 000 findings with descriptions stays below 64 MiB.
const SMALL = 256 * 1024;
const REPORT_MAX = 64 * 1024 * 1024;

/**
 * Talks to one registered adapter through Berth's outbound client (policy-checked addresses, no redirects, timeouts,
 * size limits). Errors name the step and the HTTP status, never the adapter's answer.
 */
export class ScannerAdapterClient {
  constructor(
    private readonly opts: AdapterOptions,
    private readonly http: OutboundClient,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.opts.authorization ? { authorization: this.opts.authorization } : {}), ...extra };
  }

  private url(p: string): string {
    return `${this.opts.url.replace(/\/+$/, '')}${p}`;
  }

  async metadata(signal?: AbortSignal): Promise<AdapterMetadata> {
    const res = await this.http.request(this.url('/api/v1/metadata'), {
      headers: this.headers({ accept: 'application/vnd.scanner.adapter.metadata+json; version=1.0' }),
      signal,
      timeoutMs: this.opts.timeoutMs ?? 10_000,
      maxBytes: SMALL,
    });
    if (res.status !== 200) throw new Error(`scanner adapter metadata: HTTP ${res.status}`);
    const parsed = metadataSchema.safeParse(res.json());
    if (!parsed.success) throw new Error('scanner adapter metadata: not the pluggable scanner API metadata');
    return parsed.data;
  }

  /** Submits a scan; returns the adapter's scan request id. */
  async scan(req: { registryUrl: string; authorization: string; repository: string; digest: string; mimeType: string }, signal?: AbortSignal): Promise<string> {
    const res = await this.http.request(this.url('/api/v1/scan'), {
      method: 'POST',
      headers: this.headers({ 'content-type': SCAN_REQUEST_TYPE, accept: 'application/vnd.scanner.adapter.scan.response+json; version=1.0' }),
      body: JSON.stringify({ registry: { url: req.registryUrl, authorization: req.authorization }, artifact: { repository: req.repository, digest: req.digest, mime_type: req.mimeType } }),
      signal,
      timeoutMs: 60_000,
      maxBytes: SMALL,
    });
    if (res.status !== 202 && res.status !== 200) throw new Error(`scanner adapter refused the scan: HTTP ${res.status}`);
    const id = res.json() as { id?: unknown } | null;
    if (typeof id?.id !== 'string' || !/^[\w.:-]{1,128}$/.test(id.id)) throw new Error('scanner adapter returned no scan id');
    return id.id;
  }

  /**
   * Polls the report, waiting as long as the adapter's `Refresh-After` says (bounded to 1–60 s per wait, and
   * `maxWaitMs` in all), and maps it to findings.
   */
  async report(scanId: string, opts: { signal: AbortSignal; maxWaitMs?: number; onWait?: (secs: number) => void }): Promise<Finding[]> {
    const deadline = Date.now() + (opts.maxWaitMs ?? 30 * 60_000);
    for (;;) {
      const res = await this.http.request(this.url(`/api/v1/scan/${encodeURIComponent(scanId)}/report`), {
        headers: this.headers({ accept: REPORT_TYPE }),
        signal: opts.signal,
        timeoutMs: 5 * 60_000,
        maxBytes: REPORT_MAX,
      });
      if (res.status === 200) {
        const parsed = reportSchema.safeParse(res.json());
        if (!parsed.success) throw new Error('scanner adapter report: not a vulnerability report');
        return toFindings(parsed.data);
      }
      // The pluggable scanner API answers 302 (with Refresh-After) while the report is not ready: never followed.
      if (res.status !== 302 && res.status !== 202) throw new Error(`scanner adapter report: HTTP ${res.status}`);
      const wait = Math.min(60, Math.max(1, Number(res.headers['refresh-after']) || 5));
      if (Date.now() + wait * 1000 > deadline) throw new Error('scanner adapter did not finish in time');
      opts.onWait?.(wait);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, wait * 1000);
        opts.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            reject(new Error('stopped'));
          },
          { once: true },
        );
      });
    }
  }
}

function toFindings(report: z.infer<typeof reportSchema>): Finding[] {
  return (report.vulnerabilities ?? []).map((v) => ({
    advisoryId: v.id,
    aliases: v.id.startsWith('CVE-') ? [v.id] : [],
    package: v.package ?? '',
    type: 'other' as const,
    installedVersion: v.version ?? '',
    fixedVersion: v.fix_version || null,
    severity: SEVERITY[(v.severity ?? 'unknown').toLowerCase()] ?? 'unknown',
    cvssScore: v.preferred_cvss?.score_v3 ?? null,
    cvssVector: v.preferred_cvss?.vector_v3 ?? null,
    summary: v.description ? v.description.slice(0, 1000) : null,
    links: (v.links ?? []).filter((l) => /^https?:\/\/[^\s"'<>]+$/i.test(l)).slice(0, 10),
    path: 'external scanner',
  }));
}
