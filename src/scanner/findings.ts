import type { Finding } from './matcher.js';
import { isSeverity, SEVERITIES, severityRank, type Severity } from './severity.js';

export interface FindingFilter {
  /** at or above */
  severity?: Severity;
  /** package name contains */
  package?: string;
  fixable?: boolean;
  /** free text: advisory id, aliases, package, summary */
  q?: string;
  sort?: (typeof FINDING_SORTS)[number];
}

export const FINDING_SORTS = ['severity', 'package', 'id'] as const;

/** Why raw query values do not make a filter, or null. */
export function findingFilterProblem(raw: { severity?: string; sort?: string }): string | null {
  if (raw.severity && !isSeverity(raw.severity)) return `severity must be one of ${SEVERITIES.join(', ')}`;
  if (raw.sort && !(FINDING_SORTS as readonly string[]).includes(raw.sort)) return 'sort must be severity, package or id';
  return null;
}

/** Filters and sorts findings (reports keep them sorted by severity). */
export function filterFindings(all: Finding[], f: FindingFilter): Finding[] {
  const q = f.q?.toLowerCase();
  let out = all.filter(
    (x) =>
      (!f.severity || severityRank(x.severity) >= severityRank(f.severity)) &&
      (!f.package || x.package.toLowerCase().includes(f.package.toLowerCase())) &&
      (!f.fixable || !!x.fixedVersion) &&
      (!q || x.advisoryId.toLowerCase().includes(q) || x.aliases.some((a) => a.toLowerCase().includes(q)) || x.package.toLowerCase().includes(q) || (x.summary ?? '').toLowerCase().includes(q)),
  );
  if (f.sort === 'package') out = [...out].sort((a, b) => a.package.localeCompare(b.package) || a.advisoryId.localeCompare(b.advisoryId));
  else if (f.sort === 'id') out = [...out].sort((a, b) => a.advisoryId.localeCompare(b.advisoryId));
  return out;
}
