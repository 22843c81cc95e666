import type { Migration } from 'kysely';
import { sql } from 'kysely';
import { isMysql, type AnyDB } from './helpers.js';

/**
 * Names compare exactly on MySQL/MariaDB too. `utf8mb4_bin` is a PAD SPACE collation on MariaDB (and on MySQL
 * before 8.0), so `victim` and `victim ` were the same user name (a lockout bypass), the same project and the same
 * robot. A NO PAD binary collation compares every byte: `utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on
 * MySQL 8. SQLite already compares exactly. Re-running it is harmless (MODIFY to the same definition).
 */
const COLUMNS: { table: string; column: string; type: string }[] = [
  { table: 'users', column: 'username', type: 'varchar(255)' },
  { table: 'projects', column: 'name', type: 'varchar(255)' },
  { table: 'robots', column: 'name', type: 'varchar(255)' },
  { table: 'repositories', column: 'name', type: 'varchar(255)' },
  { table: 'tags', column: 'name', type: 'varchar(128)' },
  // Group names are compared with user names (the member list is one UNION): one collation for both.
  { table: 'user_groups', column: 'group_name', type: 'varchar(255)' },
  { table: 'project_group_members', column: 'group_name', type: 'varchar(255)' },
];

export async function noPadCollation(db: AnyDB): Promise<string | null> {
  for (const name of ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin']) {
    const { rows } = await sql<{ Collation: string }>`show collation like ${name}`.execute(db);
    if (rows.length) return name;
  }
  return null;
}

export const nopadNames: Migration = {
  async up(db: AnyDB) {
    if (!isMysql(db)) return;
    const collation = await noPadCollation(db);
    if (!collation) throw new Error('this MySQL/MariaDB has no NO PAD binary collation (utf8mb4_nopad_bin or utf8mb4_0900_bin): MariaDB ≥ 10.2 or MySQL ≥ 8.0 is needed');
    const { rows: tables } = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = database()`.execute(db);
    const present = new Set(tables.map((t) => t.name));
    for (const c of COLUMNS) {
      if (!present.has(c.table)) continue; // not on this database (a feature whose step has not run)
      await sql`alter table ${sql.table(c.table)} modify ${sql.ref(c.column)} ${sql.raw(c.type)} character set utf8mb4 collate ${sql.raw(collation)} not null`.execute(db);
    }
  },
};
