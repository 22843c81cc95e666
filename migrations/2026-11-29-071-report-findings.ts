import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/**
 * Findings normalized out of the scan reports' JSON, one row per finding and CVE id it names (the advisory id when it
 * names none), so "which images contain CVE-X / package P" is an index lookup rather than a JSON scan of every report.
 * Existing reports are copied in here; the scan service keeps the table in step from now on.
 */
export const reportFindings: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('report_findings')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('artifact_id', 'integer', (c) => c.notNull())
        .addColumn('advisory_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('cve', 'varchar(128)', (c) => c.notNull())
        .addColumn('package', 'varchar(255)', (c) => c.notNull())
        .addColumn('package_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('version', 'varchar(255)', (c) => c.notNull())
        .addColumn('fixed_version', 'varchar(255)')
        .addColumn('severity', 'varchar(16)', (c) => c.notNull())
        .addColumn('severity_rank', 'integer', (c) => c.notNull())
        .addForeignKeyConstraint('report_findings_artifact_fk', ['artifact_id'], 'artifacts', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'report_findings_cve_idx', 'report_findings', ['cve', 'artifact_id']);
    await createIndex(db, 'report_findings_package_idx', 'report_findings', ['package', 'artifact_id']);
    await createIndex(db, 'report_findings_artifact_idx', 'report_findings', ['artifact_id', 'severity_rank']);

    // Copy findings of reports written before this table existed (re-runnable: only reports without rows).
    const RANK: Record<string, number> = { critical: 4, high: 3, medium: 2, low: 1, unknown: 0 };
    let after = -1;
    for (;;) {
      const reports = (await db
        .selectFrom('scan_reports')
        .select(['artifact_id', 'findings'])
        .where('artifact_id', '>', after)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('report_findings').select('id').whereRef('report_findings.artifact_id', '=', 'scan_reports.artifact_id'))))
        .orderBy('artifact_id')
        .limit(50)
        .execute()) as { artifact_id: number; findings: string }[];
      if (!reports.length) break;
      for (const r of reports) {
        after = Number(r.artifact_id);
        let list: unknown;
        try {
          list = JSON.parse(r.findings);
        } catch {
          continue;
        }
        if (!Array.isArray(list)) continue;
        const rows = [];
        for (const f of list as { advisoryId?: string; aliases?: string[]; package?: string; type?: string; installedVersion?: string; fixedVersion?: string | null; severity?: string }[]) {
          if (typeof f.advisoryId !== 'string' || typeof f.package !== 'string') continue;
          const ids = [...new Set((f.aliases ?? []).filter((a) => /^CVE-\d{4}-\d+$/i.test(a)).map((a) => a.toUpperCase()))];
          for (const cve of ids.length ? ids : [f.advisoryId]) {
            rows.push({
              artifact_id: after,
              advisory_id: f.advisoryId.slice(0, 128),
              cve: cve.slice(0, 128),
              package: f.package.slice(0, 255),
              package_type: String(f.type ?? '').slice(0, 16),
              version: String(f.installedVersion ?? '').slice(0, 255),
              fixed_version: f.fixedVersion ? String(f.fixedVersion).slice(0, 255) : null,
              severity: String(f.severity ?? 'unknown').slice(0, 16),
              severity_rank: RANK[String(f.severity)] ?? 0,
            });
          }
        }
        for (let i = 0; i < rows.length; i += 200) await db.insertInto('report_findings').values(rows.slice(i, i + 200)).execute();
      }
    }
  },
};
