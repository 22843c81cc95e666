import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/**
 * Groups as project members. `user_groups` holds the directory groups each user had at their last sign-in (LDAP group
 * DNs and names, OIDC group claim values); `project_group_members` gives a group a role in a project. A user's role is
 * the highest of their direct and group roles.
 */
export const groups: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('user_groups')
        .ifNotExists()
        .addColumn('user_id', 'integer', (c) => c.notNull())
        .addColumn('group_name', 'varchar(255)', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_groups_pk', ['user_id', 'group_name'])
        .addForeignKeyConstraint('user_groups_user_fk', ['user_id'], 'users', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'user_groups_group_idx', 'user_groups', ['group_name']);

    await tableOptions(
      db,
      db.schema
        .createTable('project_group_members')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('group_name', 'varchar(255)', (c) => c.notNull())
        .addColumn('role_id', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('project_group_members_uq', ['project_id', 'group_name'])
        .addForeignKeyConstraint('project_group_members_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade'))
        .addForeignKeyConstraint('project_group_members_role_fk', ['role_id'], 'roles', ['id']),
    ).execute();
    await createIndex(db, 'project_group_members_group_idx', 'project_group_members', ['group_name']);
  },
};
