import type { Migration } from 'kysely';
import { sql } from 'kysely';
import { addColumn, isMysql, type AnyDB } from './helpers.js';

/**
 * Honest scan reports: whether a report covers everything (`complete`), missed something (`incomplete`, with the
 * list of gaps as JSON), or does not apply (`not_applicable`). Reports written before this step have no value
 * (null): they are read as incomplete when they listed problems.
 */
export const scanCompleteness: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'scan_reports', 'completeness', 'varchar(16)');
    await addColumn(db, 'scan_reports', 'gaps', 'text');
    if (isMysql(db)) await sql`alter table scan_reports modify gaps longtext null`.execute(db);
  },
};
