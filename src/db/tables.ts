import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Timestamps are UTC epoch milliseconds written by the app (same on both dialects). Flags are 0/1. */
export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  password_hash: string;
  is_admin: number;
  disabled: number;
  created_at: number;
  updated_at: number;
}

export interface RolesTable {
  id: number;
  name: string;
}

export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  public: number;
  owner_id: number | null;
  auto_scan: number;
  prevent_vulnerable: number;
  severity: string;
  cve_allowlist: string;
  immutable_tags: string;
  quota_bytes: number | null;
  created_at: number;
  updated_at: number;
}

export interface ProjectMembersTable {
  id: Generated<number>;
  project_id: number;
  user_id: number;
  role_id: number;
  created_at: number;
}

export interface AuditLogsTable {
  id: Generated<number>;
  created_at: number;
  username: string;
  action: string;
  resource_type: string;
  resource: string;
  detail: string | null;
  client_ip: string;
}

export interface SessionsTable {
  id: string;
  user_id: number;
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

export interface LoginFailuresTable {
  key: string;
  failures: number;
  first_at: number;
  locked_until: number;
}

export interface Database {
  users: UsersTable;
  roles: RolesTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  audit_logs: AuditLogsTable;
  sessions: SessionsTable;
  login_failures: LoginFailuresTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type ProjectRow = Selectable<ProjectsTable>;
export type ProjectUpdate = Updateable<ProjectsTable>;
export type AuditLogRow = Selectable<AuditLogsTable>;
