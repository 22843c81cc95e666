import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/** Registry state kept from notifications: inbox, repositories, artifacts (with index children), tags, blobs. */
export const registry: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('notification_inbox')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('event_id', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('applied_at', 'bigint')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('lease_until', 'bigint')
        .addColumn('error', 'varchar(1024)'),
    ).execute();
    await createIndex(db, 'notification_inbox_pending_idx', 'notification_inbox', ['applied_at', 'id']);

    await tableOptions(
      db,
      db.schema
        .createTable('repositories')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('pull_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('repositories_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'repositories_project_idx', 'repositories', ['project_id', 'name']);

    await tableOptions(
      db,
      db.schema
        .createTable('artifacts')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('repository_id', 'integer', (c) => c.notNull())
        .addColumn('digest', 'varchar(100)', (c) => c.notNull())
        .addColumn('media_type', 'varchar(255)', (c) => c.notNull())
        .addColumn('manifest_size', 'bigint', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('config_digest', 'varchar(100)')
        .addColumn('os', 'varchar(32)')
        .addColumn('architecture', 'varchar(32)')
        .addColumn('variant', 'varchar(32)')
        .addColumn('created', 'varchar(64)')
        .addColumn('pushed_at', 'bigint', (c) => c.notNull())
        .addColumn('pulled_at', 'bigint')
        .addColumn('pull_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('pushed_by', 'varchar(255)')
        .addUniqueConstraint('artifacts_repo_digest_uq', ['repository_id', 'digest'])
        .addForeignKeyConstraint('artifacts_repository_fk', ['repository_id'], 'repositories', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'artifacts_digest_idx', 'artifacts', ['digest']);
    await createIndex(db, 'artifacts_repo_pushed_idx', 'artifacts', ['repository_id', 'pushed_at']);

    // Children of an image index (multi-arch), by digest: a child may be pushed before or after its index.
    await tableOptions(
      db,
      db.schema
        .createTable('artifact_children')
        .ifNotExists()
        .addColumn('parent_id', 'integer', (c) => c.notNull())
        .addColumn('child_digest', 'varchar(100)', (c) => c.notNull())
        .addColumn('media_type', 'varchar(255)', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('platform', 'varchar(128)')
        .addPrimaryKeyConstraint('artifact_children_pk', ['parent_id', 'child_digest'])
        .addForeignKeyConstraint('artifact_children_parent_fk', ['parent_id'], 'artifacts', ['id'], (f) => f.onDelete('cascade')),
    ).execute();

    // Config and layer blobs an image manifest references (sizes, quota, GC accounting).
    await tableOptions(
      db,
      db.schema
        .createTable('artifact_blobs')
        .ifNotExists()
        .addColumn('artifact_id', 'integer', (c) => c.notNull())
        .addColumn('digest', 'varchar(100)', (c) => c.notNull())
        .addColumn('media_type', 'varchar(255)', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('artifact_blobs_pk', ['artifact_id', 'position'])
        .addForeignKeyConstraint('artifact_blobs_artifact_fk', ['artifact_id'], 'artifacts', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'artifact_blobs_digest_idx', 'artifact_blobs', ['digest']);

    await tableOptions(
      db,
      db.schema
        .createTable('tags')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('repository_id', 'integer', (c) => c.notNull())
        .addColumn('artifact_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('pushed_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('tags_repo_name_uq', ['repository_id', 'name'])
        .addForeignKeyConstraint('tags_repository_fk', ['repository_id'], 'repositories', ['id'], (f) => f.onDelete('cascade'))
        .addForeignKeyConstraint('tags_artifact_fk', ['artifact_id'], 'artifacts', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'tags_artifact_idx', 'tags', ['artifact_id']);

    await tableOptions(
      db,
      db.schema
        .createTable('robots')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('project_id', 'integer')
        .addColumn('description', 'varchar(1024)')
        .addColumn('secret_hash', 'varchar(128)', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint')
        .addColumn('created_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('robots_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();

    await tableOptions(
      db,
      db.schema
        .createTable('robot_permissions')
        .ifNotExists()
        .addColumn('robot_id', 'integer', (c) => c.notNull())
        .addColumn('project_id', 'integer', (c) => c.notNull())
        .addColumn('actions', 'varchar(64)', (c) => c.notNull())
        .addPrimaryKeyConstraint('robot_permissions_pk', ['robot_id', 'project_id'])
        .addForeignKeyConstraint('robot_permissions_robot_fk', ['robot_id'], 'robots', ['id'], (f) => f.onDelete('cascade'))
        .addForeignKeyConstraint('robot_permissions_project_fk', ['project_id'], 'projects', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
  },
};
