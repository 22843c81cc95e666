import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/**
 * Immutable tags being pushed and not imported yet, shared by every core replica: one row per (repository, tag), the
 * digest its first push claimed. Its key makes two first pushes of one tag with different digests take turns.
 */
export const tagClaims: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('tag_claims')
        .ifNotExists()
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('tag', 'varchar(128)', (c) => c.notNull())
        .addColumn('digest', 'varchar(100)', (c) => c.notNull())
        .addColumn('holder', 'varchar(36)', (c) => c.notNull())
        .addColumn('claimed_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('tag_claims_pk', ['repository', 'tag']),
    ).execute();
    await createIndex(db, 'tag_claims_expires', 'tag_claims', ['expires_at']);
  },
};
