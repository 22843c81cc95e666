import cvss from 'ae-cvss-calculator';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The thresholds a project's pull gate may be set to, lowest first: it refuses findings at or above the one chosen. */
export const GATE_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const satisfies readonly Severity[];
export type GateSeverity = (typeof GATE_SEVERITIES)[number];
/** What the pull gate does with an image no finished scan has judged yet. */
export const UNSCANNED_POLICIES = ['block', 'allow'] as const;
export type UnscannedPolicy = (typeof UNSCANNED_POLICIES)[number];

export const isSeverity = (s: unknown): s is Severity => (SEVERITIES as readonly unknown[]).includes(s);

export const severityRank = (s: Severity): number => ({ critical: 4, high: 3, medium: 2, low: 1, unknown: 0 })[s];
/** The severity of a rank {@link severityRank} gave (as stored in `report_findings.severity_rank`); `unknown` for any other number. */
export const severityOfRank = (rank: number): Severity => SEVERITIES.find((s) => severityRank(s) === rank) ?? 'unknown';

/** CVSS v3/v4 qualitative rating of a base score. */
export function severityFromScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'unknown';
}

/** The base score of a CVSS vector, via a CVSS library; null for what it cannot parse. */
export function cvssBaseScore(vector: string): number | null {
  if (typeof vector !== 'string' || vector.length > 255) return null;
  try {
    let calc;
    if (vector.startsWith('CVSS:4.0/')) calc = new cvss.Cvss4P0(vector);
    else if (vector.startsWith('CVSS:3.1/')) calc = new cvss.Cvss3P1(vector);
    else if (vector.startsWith('CVSS:3.0/')) calc = new cvss.Cvss3P0(vector);
    else return null;
    const base = calc.calculateScores().base;
    return typeof base === 'number' && Number.isFinite(base) && base >= 0 && base <= 10 ? base : null;
  } catch {
    return null;
  }
}

/** Vendor words for severity (GHSA, Debian urgency, Ubuntu priority) → ours. */
export function severityFromVendor(word: unknown): Severity | null {
  if (typeof word !== 'string') return null;
  switch (word.trim().toLowerCase().replace(/\*+$/, '')) {
    case 'critical':
      return 'critical';
    case 'high':
    case 'important':
      return 'high';
    case 'moderate':
    case 'medium':
      return 'medium';
    case 'low':
    case 'negligible':
    case 'unimportant':
      return 'low';
    default:
      return null;
  }
}
