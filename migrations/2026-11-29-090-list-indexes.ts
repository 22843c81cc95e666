import type { Migration } from 'kysely';
import { createIndex, type AnyDB } from './helpers.js';

/**
 * Indexes that match each list's keyset order (see SORTS in src/paging.ts), so a page is an index seek to the cursor's
 * key plus `limit` rows, however deep. Lists already served by an index are not repeated: repositories
 * (project_id, name), tags (repository_id, name), users (username), deliveries (policy_id, id), audit and jobs by
 * primary key with their filters' (column, id) indexes. Both engines append the primary key to a secondary index, but
 * the orders name `id` as their tiebreaker, so it is spelled out here.
 */
export const listIndexes: Migration = {
  async up(db: AnyDB) {
    // artifacts of a repository, newest push first (pushed_at desc, id desc)
    await createIndex(db, 'artifacts_repo_list_idx', 'artifacts', ['repository_id', 'pushed_at', 'id']);
    // robots of a project by name, and all robots by name
    await createIndex(db, 'robots_project_name_idx', 'robots', ['project_id', 'name', 'id']);
    // projects by name, and public ones by name (the non-admin list)
    await createIndex(db, 'projects_public_name_idx', 'projects', ['public', 'name', 'id']);
    // jobs filtered by status alone, newest first (type + status + id exists)
    await createIndex(db, 'jobs_status_list_idx', 'jobs', ['status', 'id']);
    // audit filtered by action, newest first
    await createIndex(db, 'audit_logs_action_idx', 'audit_logs', ['action', 'id']);
    // members by name within a project
    await createIndex(db, 'project_group_members_list_idx', 'project_group_members', ['project_id', 'group_name', 'id']);
  },
};
