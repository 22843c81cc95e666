import type { Migration } from 'kysely';
import { addColumn, type AnyDB } from './helpers.js';

/**
 * A job log line as a message key plus its parameters (JSON), so the job center shows it in the viewer's language.
 * `message` keeps the English text for the REST API; rows written before this step have no key and are shown as
 * they were written.
 */
export const jobLogKeys: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'job_logs', 'message_key', 'varchar(96)');
    await addColumn(db, 'job_logs', 'message_params', 'text');
  },
};
