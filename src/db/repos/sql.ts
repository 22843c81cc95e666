import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';

import { isUniqueViolation } from '../../errors.js';

const ESC = '!';

/**
 * An upsert on both dialects without their different ON CONFLICT syntaxes: `update`; when it changed no row, `insert`;
 * when a concurrent writer inserted the row first (a duplicate key, and only that), `update` again. Any other error
 * (a foreign key to a row just deleted, a lost connection) propagates.
 */
export async function updateOrInsert(update: () => Promise<{ numUpdatedRows: bigint }>, insert: () => Promise<unknown>): Promise<void> {
  if (Number((await update()).numUpdatedRows) > 0) return;
  try {
    await insert();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    await update();
  }
}

/** "contains q" as a LIKE pattern whose wildcards and escape char are taken literally. */
export function likePattern(q: string): string {
  return `%${q.replace(/[!%_]/g, (ch) => ESC + ch)}%`;
}

/** `column LIKE pattern ESCAPE '!'`: the same meaning on SQLite and MySQL (no backslash quirks). */
export function likeExpr(column: Expression<unknown> | RawBuilder<unknown>, q: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`${column} like ${likePattern(q)} escape '!'`;
}
