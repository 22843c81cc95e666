import type { Migration } from 'kysely';
import { createIndex, type AnyDB } from './helpers.js';

/** A search by advisory id (`DEBIAN-CVE-…`, `GHSA-…`) is an index lookup too, not only a search by CVE id. */
export const reportFindingsAdvisory: Migration = {
  async up(db: AnyDB) {
    await createIndex(db, 'report_findings_advisory_idx', 'report_findings', ['advisory_id', 'artifact_id']);
  },
};
