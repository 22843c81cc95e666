import { z } from 'zod';
import { normalizePypiName } from './inventory.js';
import { cvssBaseScore, severityFromScore, severityFromVendor, severityRank, type Severity } from './severity.js';
import { ADVISORY_ID } from '../registry/reference.js';

/** OSV schema (https://ossf.github.io/osv-schema/), as much as Berth uses, with bounds on everything. */
const event = z
  .object({ introduced: z.string().max(256).optional(), fixed: z.string().max(256).optional(), last_affected: z.string().max(256).optional(), limit: z.string().max(256).optional() })
  .passthrough();
const range = z.object({ type: z.string().max(32), events: z.array(event).max(2000) }).passthrough();
const severityEntry = z.object({ type: z.string().max(32), score: z.string().max(255) }).passthrough();
const affected = z
  .object({
    package: z.object({ ecosystem: z.string().min(1).max(64), name: z.string().min(1).max(255) }).passthrough().optional(),
    ranges: z.array(range).max(200).optional(),
    versions: z.array(z.string().max(256)).max(50_000).optional(),
    severity: z.array(severityEntry).max(10).optional(),
    ecosystem_specific: z.record(z.string(), z.unknown()).optional(),
    database_specific: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export const osvRecordSchema = z
  .object({
    id: z.string().regex(ADVISORY_ID, 'not an OSV id'),
    modified: z.string().max(64),
    published: z.string().max(64).optional(),
    withdrawn: z.string().max(64).optional(),
    aliases: z.array(z.string().max(128)).max(200).optional(),
    upstream: z.array(z.string().max(128)).max(200).optional(),
    summary: z.string().max(100_000).optional(),
    details: z.string().max(1_000_000).optional(),
    severity: z.array(severityEntry).max(10).optional(),
    affected: z.array(affected).max(5000).optional(),
    references: z.array(z.object({ type: z.string().max(32).optional(), url: z.string().max(2048) }).passthrough()).max(500).optional(),
    database_specific: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export type OsvRecord = z.infer<typeof osvRecordSchema>;

export interface AffectedRange {
  type: string;
  events: { introduced?: string; fixed?: string; last_affected?: string; limit?: string }[];
}

/** What is stored per (advisory, package): enough to decide "is version v affected" and "fixed in". */
export interface AffectedPackage {
  ranges: AffectedRange[];
  versions: string[];
}

export interface NormalizedAdvisory {
  id: string;
  modified: number;
  published: number | null;
  withdrawn: boolean;
  summary: string | null;
  details: string | null;
  aliases: string[];
  upstream: string[];
  severity: Severity;
  cvssScore: number | null;
  cvssVector: string | null;
  refs: string[];
  packages: { ecosystem: string; name: string; affected: AffectedPackage }[];
}

const time = (s: string | undefined): number | null => {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
};

const ID_LIKE = ADVISORY_ID;

/**
 * Turns a validated OSV record into what Berth stores. Severity: the highest CVSS v3/v4 base score over the record
 * and its affected entries; else the vendor's word (GHSA `database_specific.severity`, Debian urgency, Ubuntu
 * priority); else unknown. Only http(s) references are kept (they become links in an admin's browser).
 */
export function normalizeOsv(r: OsvRecord): NormalizedAdvisory {
  let best: { score: number; vector: string } | null = null;
  let vendor: Severity | null = null;
  const consider = (entries: { type: string; score: string }[] | undefined) => {
    for (const e of entries ?? []) {
      if (e.type === 'CVSS_V3' || e.type === 'CVSS_V4') {
        const s = cvssBaseScore(e.score);
        if (s !== null && (!best || s > best.score)) best = { score: s, vector: e.score };
      } else {
        const v = severityFromVendor(e.score);
        if (v && (!vendor || severityRank(v) > severityRank(vendor))) vendor = v;
      }
    }
  };
  consider(r.severity);
  const packages: NormalizedAdvisory['packages'] = [];
  for (const a of r.affected ?? []) {
    consider(a.severity);
    for (const bag of [a.ecosystem_specific, a.database_specific, r.database_specific]) {
      const word = bag?.severity ?? bag?.urgency ?? bag?.priority;
      const v = severityFromVendor(word);
      if (v && (!vendor || severityRank(v) > severityRank(vendor))) vendor = v;
    }
    if (!a.package) continue;
    const ecosystem = a.package.ecosystem;
    const name = ecosystem === 'PyPI' ? normalizePypiName(a.package.name) : a.package.name;
    const ranges = (a.ranges ?? [])
      .filter((x) => x.type === 'ECOSYSTEM' || x.type === 'SEMVER')
      .map((x) => ({ type: x.type, events: x.events.map((e) => ({ introduced: e.introduced, fixed: e.fixed, last_affected: e.last_affected, limit: e.limit })) }));
    const versions = a.versions ?? [];
    if (!ranges.length && !versions.length) continue;
    packages.push({ ecosystem, name, affected: { ranges, versions } });
  }
  const b = best as { score: number; vector: string } | null;
  const severity: Severity = b ? severityFromScore(b.score) : (vendor ?? 'unknown');
  return {
    id: r.id,
    modified: time(r.modified) ?? 0,
    published: time(r.published),
    withdrawn: !!r.withdrawn,
    summary: r.summary ? r.summary.slice(0, 1000) : null,
    details: r.details ? r.details.slice(0, 20_000) : null,
    aliases: (r.aliases ?? []).filter((x) => ID_LIKE.test(x)),
    upstream: (r.upstream ?? []).filter((x) => ID_LIKE.test(x)),
    severity,
    cvssScore: b ? b.score : null,
    cvssVector: b ? b.vector : null,
    refs: (r.references ?? []).map((x) => x.url).filter((u) => /^https?:\/\/[^\s"'<>]+$/i.test(u)).slice(0, 50),
    packages,
  };
}
