import { sql, type Migration } from 'kysely';
import { addColumn, type AnyDB } from './helpers.js';

/**
 * Each repository's artifact count as a column, moved by the transactions that add and delete its artifacts
 * (src/db/repos/artifacts.ts). The repository list counted every artifact of each listed repository: its cost grew
 * with the repositories' sizes (50 repositories of 1,000 artifacts: 3.2× the near-empty list). Filled here from the
 * rows as they are (re-runnable); reconciliation recounts it.
 */
export const repositoryArtifactCount: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'repositories', 'artifact_count', 'bigint', { notNull: true, defaultTo: 0 });
    await sql`update repositories set artifact_count = (select count(*) from artifacts a where a.repository_id = repositories.id)`.execute(db);
  },
};
