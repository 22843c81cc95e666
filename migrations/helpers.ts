import { MysqlAdapter, sql, type CreateTableBuilder, type Kysely } from 'kysely';

// Migrations see the database untyped: each step is written against the schema of its own day.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDB = Kysely<any>;

export const isMysql = (db: AnyDB) => db.getExecutor().adapter instanceof MysqlAdapter;

/**
 * Binary collation on MySQL so names, tags and digests compare exactly as on SQLite
 * (the MySQL default collation is case-insensitive: `Latest` and `latest` would collide).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function tableOptions<T extends CreateTableBuilder<any, any>>(db: AnyDB, builder: T): T {
  return (isMysql(db) ? builder.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`) : builder) as T;
}

/** CREATE INDEX that can be re-run: MySQL 8 has no IF NOT EXISTS for indexes. */
export async function createIndex(db: AnyDB, name: string, table: string, columns: string[]): Promise<void> {
  try {
    await db.schema.createIndex(name).on(table).columns(columns).execute();
  } catch (err) {
    const e = err as { errno?: number; message?: string };
    if (e.errno === 1061 || /already exists/i.test(e.message ?? '')) return;
    throw err;
  }
}

/** Idempotent ADD COLUMN, for re-running a step that failed halfway. */
export async function addColumn(db: AnyDB, table: string, column: string, type: string, opts: { notNull?: boolean; defaultTo?: unknown } = {}): Promise<void> {
  try {
    await db.schema
      .alterTable(table)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      .addColumn(column, sql.raw(type) as any, (c) => {
        let col = c;
        if (opts.defaultTo !== undefined) col = col.defaultTo(opts.defaultTo);
        if (opts.notNull) col = col.notNull();
        return col;
      })
      .execute();
  } catch (err) {
    const e = err as { errno?: number; message?: string };
    if (e.errno === 1060 || /duplicate column/i.test(e.message ?? '')) return;
    throw err;
  }
}
