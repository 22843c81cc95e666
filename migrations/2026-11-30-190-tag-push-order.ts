import type { Migration } from 'kysely';
import { createIndex, type AnyDB } from './helpers.js';

/**
 * Tag lists (a repository's, an artifact's, and the previews artifact objects embed) order by push time, newest
 * first, as Harbor does (SORTS.tags and SORTS.artifactTags in src/paging.ts): these indexes match that order column
 * for column, tiebreaker included, so a page is an index seek to the cursor's key and never a sort (see 090 for what
 * MariaDB does without the tiebreaker). The by-name indexes stay: lookups by name and moves of a tag use them.
 */
export const tagPushOrder: Migration = {
  async up(db: AnyDB) {
    await createIndex(db, 'tags_repo_pushed_idx', 'tags', ['repository_id', 'pushed_at', 'id']);
    await createIndex(db, 'tags_artifact_pushed_idx', 'tags', ['artifact_id', 'pushed_at', 'id']);
  },
};
