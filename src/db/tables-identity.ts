import type { Generated } from 'kysely';

/** Directory groups and group members of projects (migration 030). */
export interface IdentityTables {
  user_groups: { user_id: number; group_name: string; updated_at: number };
  project_group_members: { id: Generated<number>; project_id: number; group_name: string; role_id: number; created_at: number };
}
