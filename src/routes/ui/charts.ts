import { SEVERITIES, type Severity } from '../../scanner/severity.js';

export const SEVERITY_COLORS: Record<Severity, string> = { critical: '#7a1010', high: '#d92d20', medium: '#f79009', low: '#fdb022', unknown: '#98a2b3' };

/** The words a chart prints, in the viewer's language (see {@link chartWords}); English by default. */
export interface ChartWords {
  severity(s: Severity): string;
  noVulnerabilities: string;
  none: string;
}

const ENGLISH: ChartWords = { severity: (s) => s, noVulnerabilities: 'no vulnerabilities', none: 'none' };

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Chart words from a translate function (`severity.<name>`, `chart.*` keys), escaped for SVG text and attributes. */
export function chartWords(t: (key: string) => string): ChartWords {
  return { severity: (s) => esc(t(`severity.${s}`)), noVulnerabilities: esc(t('chart.no_vulnerabilities')), none: esc(t('chart.none')) };
}

/**
 * A stacked horizontal bar of severity counts, as server-rendered SVG. Only numbers and fixed words go into it, so it
 * is safe to include unescaped; it carries a text alternative for screen readers.
 */
export function severityBar(counts: Record<Severity, number>, width = 480, height = 18, words: ChartWords = ENGLISH): string {
  const total = SEVERITIES.reduce((n, s) => n + counts[s], 0);
  const label = total
    ? SEVERITIES.filter((s) => counts[s])
        .map((s) => `${counts[s]} ${words.severity(s)}`)
        .join(', ')
    : words.noVulnerabilities;
  if (!total)
    return `<svg class="sevbar" role="img" aria-label="${label}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="${width}" height="${height}" rx="3" fill="#12b76a"/></svg>`;
  let x = 0;
  const rects = SEVERITIES.filter((s) => counts[s]).map((s) => {
    const w = Math.max(2, Math.round((counts[s] / total) * width));
    const r = `<rect x="${x}" width="${w}" height="${height}" fill="${SEVERITY_COLORS[s]}"><title>${counts[s]} ${words.severity(s)}</title></rect>`;
    x += w;
    return r;
  });
  return `<svg class="sevbar" role="img" aria-label="${label}" width="${width}" height="${height}" viewBox="0 0 ${x} ${height}" preserveAspectRatio="none">${rects.join('')}</svg>`;
}

/** Vertical bars: findings per severity across a project's latest reports. */
export function severityColumns(counts: Record<Severity, number>, width = 360, height = 160, words: ChartWords = ENGLISH): string {
  const max = Math.max(1, ...SEVERITIES.map((s) => counts[s]));
  const colW = Math.floor(width / SEVERITIES.length);
  const chartH = height - 36;
  const bars = SEVERITIES.map((s, i) => {
    const h = Math.round((counts[s] / max) * chartH);
    const x = i * colW + 8;
    return (
      `<rect x="${x}" y="${chartH - h + 14}" width="${colW - 16}" height="${h}" fill="${SEVERITY_COLORS[s]}"><title>${counts[s]} ${words.severity(s)}</title></rect>` +
      `<text x="${x + (colW - 16) / 2}" y="${chartH - h + 10}" text-anchor="middle" font-size="11" fill="#1d2430">${counts[s]}</text>` +
      `<text x="${x + (colW - 16) / 2}" y="${height - 6}" text-anchor="middle" font-size="11" fill="#667085">${words.severity(s)}</text>`
    );
  });
  const label = SEVERITIES.map((s) => `${counts[s]} ${words.severity(s)}`).join(', ');
  return `<svg class="sevcols" role="img" aria-label="${label}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${bars.join('')}</svg>`;
}

/** Labelled horizontal bars (top CVEs by affected artifacts); labels are escaped, values are numbers. */
export function labelledBars(rows: { label: string; value: number; severity: Severity }[], width = 520, rowH = 22, words: ChartWords = ENGLISH): string {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const labelW = 170;
  const barMax = width - labelW - 50;
  const height = Math.max(rowH, rows.length * rowH);
  const parts = rows.map((r, i) => {
    const y = i * rowH;
    const w = Math.max(2, Math.round((r.value / max) * barMax));
    return (
      `<text x="0" y="${y + 15}" font-size="12" fill="#1d2430">${esc(r.label.slice(0, 28))}</text>` +
      `<rect x="${labelW}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="${SEVERITY_COLORS[r.severity] ?? SEVERITY_COLORS.unknown}"><title>${esc(r.label)}: ${r.value}</title></rect>` +
      `<text x="${labelW + w + 6}" y="${y + 15}" font-size="12" fill="#667085">${r.value}</text>`
    );
  });
  const label = esc(rows.map((r) => `${r.label} ${r.value}`).join(', ')) || words.none;
  return `<svg class="bars" role="img" aria-label="${label}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}
