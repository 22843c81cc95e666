import type { Migration } from 'kysely';
import { createIndex, tableOptions, type AnyDB } from './helpers.js';

/** The scanner: OSV advisories (one row per affected package), per-layer inventories, reports per artifact. */
export const scanner: Migration = {
  async up(db: AnyDB) {
    await tableOptions(
      db,
      db.schema
        .createTable('advisories')
        .ifNotExists()
        .addColumn('id', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('modified', 'bigint', (c) => c.notNull())
        .addColumn('published', 'bigint')
        .addColumn('summary', 'varchar(1024)')
        .addColumn('details', 'text')
        .addColumn('aliases', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('severity', 'varchar(16)', (c) => c.notNull())
        .addColumn('cvss_score', 'double precision')
        .addColumn('cvss_vector', 'varchar(255)')
        .addColumn('refs', 'text', (c) => c.notNull())
        .addColumn('imported_at', 'bigint', (c) => c.notNull()),
    ).execute();

    await tableOptions(
      db,
      db.schema
        .createTable('advisory_packages')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('advisory_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('ecosystem', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('affected', 'text', (c) => c.notNull())
        .addForeignKeyConstraint('advisory_packages_advisory_fk', ['advisory_id'], 'advisories', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await createIndex(db, 'advisory_packages_lookup_idx', 'advisory_packages', ['ecosystem', 'name']);
    await createIndex(db, 'advisory_packages_advisory_idx', 'advisory_packages', ['advisory_id']);

    await tableOptions(
      db,
      db.schema
        .createTable('vulndb_meta')
        .ifNotExists()
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull()),
    ).execute();

    await tableOptions(
      db,
      db.schema
        .createTable('layer_inventories')
        .ifNotExists()
        .addColumn('digest', 'varchar(100)', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull()),
    ).execute();
    // MySQL TEXT holds 64 KiB: a layer inventory with thousands of packages needs more.
    await widenText(db, 'layer_inventories', 'data');

    await tableOptions(
      db,
      db.schema
        .createTable('scan_reports')
        .ifNotExists()
        .addColumn('artifact_id', 'integer', (c) => c.primaryKey())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('job_id', 'integer')
        .addColumn('scanner', 'varchar(64)', (c) => c.notNull())
        .addColumn('db_updated_at', 'bigint')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addColumn('os', 'varchar(128)')
        .addColumn('critical', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('high', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('medium', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('low', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('unknown', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('fixable', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('findings', 'text', (c) => c.notNull())
        .addColumn('packages', 'text', (c) => c.notNull())
        .addColumn('problems', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addForeignKeyConstraint('scan_reports_artifact_fk', ['artifact_id'], 'artifacts', ['id'], (f) => f.onDelete('cascade')),
    ).execute();
    await widenText(db, 'scan_reports', 'findings');
    await widenText(db, 'scan_reports', 'packages');
    await widenText(db, 'advisories', 'details');
    await widenText(db, 'advisory_packages', 'affected');
  },
};

async function widenText(db: AnyDB, table: string, column: string): Promise<void> {
  const { isMysql } = await import('./helpers.js');
  if (!isMysql(db)) return;
  const { sql } = await import('kysely');
  await sql`alter table ${sql.table(table)} modify ${sql.ref(column)} longtext ${sql.raw(column === 'details' ? 'null' : 'not null')}`.execute(db);
}
