import type { Migration } from 'kysely';
import { createIndex, type AnyDB } from './helpers.js';

/**
 * Indexes that match each list's keyset order (SORTS in src/paging.ts) column for column, tiebreaker included, so a
 * page is an index seek to the cursor's key plus `limit` rows however deep, and never a sort. MariaDB does not use a
 * unique index on `name` (or `(repository_id, name)`) for `ORDER BY name, id`: it sorted all 100k tags of a repository
 * for every page (630 ms) until the tiebreaker was in the index. Audit and job lists order by primary key; their
 * filters have (column, id) indexes (001, 004) and (status, id) / (action, id) here.
 */
export const listIndexes: Migration = {
  async up(db: AnyDB) {
    // artifacts of a repository, newest push first (pushed_at desc, id desc)
    await createIndex(db, 'artifacts_repo_list_idx', 'artifacts', ['repository_id', 'pushed_at', 'id']);
    // tags of a repository by name
    await createIndex(db, 'tags_repo_list_idx', 'tags', ['repository_id', 'name', 'id']);
    // repositories of a project by name
    await createIndex(db, 'repositories_list_idx', 'repositories', ['project_id', 'name', 'id']);
    // projects, users and robots by name
    await createIndex(db, 'projects_list_idx', 'projects', ['name', 'id']);
    await createIndex(db, 'users_list_idx', 'users', ['username', 'id']);
    await createIndex(db, 'robots_list_idx', 'robots', ['name', 'id']);
    await createIndex(db, 'robots_project_list_idx', 'robots', ['project_id', 'name', 'id']);
    // jobs filtered by status alone, newest first (type + status + id exists)
    await createIndex(db, 'jobs_status_list_idx', 'jobs', ['status', 'id']);
    // audit filtered by action, newest first
    await createIndex(db, 'audit_logs_action_idx', 'audit_logs', ['action', 'id']);
    // the artifact list leaves out index children of the same repository: a lookup by child digest per row
    await createIndex(db, 'artifact_children_child_idx', 'artifact_children', ['child_digest', 'parent_id']);
    // members by name within a project
    await createIndex(db, 'project_group_members_list_idx', 'project_group_members', ['project_id', 'group_name', 'id']);
  },
};
