import type { Migration } from 'kysely';
import { addColumn, type AnyDB } from './helpers.js';

/**
 * A job's progress text as a message key plus its parameters (JSON), as job log lines have been since 130, so the job
 * center shows "100% · 完成" to a Chinese reader. `progress_text` keeps the English text for the REST API; rows
 * written before this step have no key and are shown as they were written.
 */
export const jobProgressKeys: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'jobs', 'progress_key', 'varchar(64)');
    await addColumn(db, 'jobs', 'progress_params', 'text');
  },
};
