import type { Migration } from 'kysely';
import { tableOptions, type AnyDB } from './helpers.js';

/** Per-user UI preferences (the UI language), apart from the account row that identity sources own. */
export const userPreferences: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('user_preferences')
        .ifNotExists()
        .addColumn('user_id', 'integer', (c) => c.primaryKey())
        .addColumn('locale', 'varchar(16)')
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    ).execute();
  },
};
