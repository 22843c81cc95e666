import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/** Users, roles (the original design's role table), projects, members, audit log. */
export const accountsProjects: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('users')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('username', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('email', 'varchar(255)')
        .addColumn('password_hash', 'varchar(255)', (c) => c.notNull())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    ).execute();

    await tableOptions(
      db,
      db.schema
        .createTable('roles')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'varchar(32)', (c) => c.notNull().unique()),
    ).execute();
    const have = await db.selectFrom('roles').select('id').execute();
    if (have.length === 0) {
      await db
        .insertInto('roles')
        .values([
          { id: 1, name: 'admin' },
          { id: 2, name: 'developer' },
          { id: 3, name: 'guest' },
        ])
        .execute();
    }

    await tableOptions(
      db,
      db.schema
        .createTable('projects')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('owner_id', 'integer')
        .addColumn('auto_scan', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('prevent_vulnerable', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('severity', 'varchar(16)', (c) => c.notNull().defaultTo('critical'))
        .addColumn('cve_allowlist', 'text', (c) => c.notNull())
        .addColumn('immutable_tags', 'text', (c) => c.notNull())
        .addColumn('quota_bytes', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('projects_owner_fk', ['owner_id'], 'users', ['id'], (f) => f.onDelete('set null')),
    ).execute();

    await tableOptions(
      db,
      db.schema
        .createTable('project_members')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('user_id', 'integer', (c) => c.notNull())
        .addColumn('role_id', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('project_members_project_user_uq', ['project_id', 'user_id'])
        .addForeignKeyConstraint('project_members_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade'))
        .addForeignKeyConstraint('project_members_user_fk', ['user_id'], 'users', ['id'], (f) => f.onDelete('cascade'))
        .addForeignKeyConstraint('project_members_role_fk', ['role_id'], 'roles', ['id']),
    ).execute();
    await createIndex(db, 'project_members_user_idx', 'project_members', ['user_id']);

    await tableOptions(
      db,
      db.schema
        .createTable('audit_logs')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('username', 'varchar(255)', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('resource_type', 'varchar(64)', (c) => c.notNull())
        .addColumn('resource', 'varchar(512)', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('client_ip', 'varchar(64)', (c) => c.notNull()),
    ).execute();
    await createIndex(db, 'audit_logs_created_idx', 'audit_logs', ['created_at']);
    await createIndex(db, 'audit_logs_username_idx', 'audit_logs', ['username', 'id']);
    await createIndex(db, 'audit_logs_resource_idx', 'audit_logs', ['resource_type', 'id']);
  },
};
