import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';

const ESC = '!';

/** "contains q" as a LIKE pattern whose wildcards and escape char are taken literally. */
export function likePattern(q: string): string {
  return `%${q.replace(/[!%_]/g, (ch) => ESC + ch)}%`;
}

/** `column LIKE pattern ESCAPE '!'`: the same meaning on SQLite and MySQL (no backslash quirks). */
export function likeExpr(column: Expression<unknown> | RawBuilder<unknown>, q: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`${column} like ${likePattern(q)} escape '!'`;
}
