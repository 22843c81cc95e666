/**
 * Keyset pagination's vocabulary, shared by the repositories (which run the queries) and the routes (which read and
 * write cursors). Every list orders by columns that end in a unique one, so every row has exactly one place; a page is
 * "the rows after (or before) this key", which costs the same at row 20 as at row 2 million: the database seeks the
 * order's index to the key instead of counting past OFFSET rows (page 300 of a 20k-artifact repository took 6× the
 * first page on MariaDB with OFFSET).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { badRequest } from './errors.js';

/** `page` may reach this many rows into a list; deeper pages need a cursor. */
export const MAX_PAGE_OFFSET = 1000;
/** Totals are counted up to this many rows; a longer list reports `total: null`. */
export const TOTAL_CAP = 1000;
/** Longest cursor accepted (a key of a few short strings and ids, signed, fits in far less). */
export const MAX_CURSOR_CHARS = 1024;

/** One column of a list's order; the last one of a sort must be unique (an id). */
export interface SortColumn {
  /** the column as the query names it (`a.pushed_at`, `name`) */
  col: string;
  dir: 'asc' | 'desc';
  /** the value's type, for validating a decoded cursor */
  type: 'int' | 'str';
}

export type KeyValue = string | number;

/** Where a page starts: after the row with these key values (next), or before it (prev). */
export interface KeysetPosition {
  key: KeyValue[];
  before: boolean;
}

export interface PageRequest {
  limit: number;
  /** a position from a cursor; takes precedence over `offset` */
  at?: KeysetPosition;
  /** a small offset (`page`), capped by the route */
  offset?: number;
  /** count matching rows up to this many; 0 or absent: do not count */
  countUpTo?: number;
}

export interface KeysetPage<T> {
  items: T[];
  /** the key of the last row when rows follow it */
  next: KeyValue[] | null;
  /** the key of the first row when rows precede it */
  prev: KeyValue[] | null;
  /** the number of matching rows when it is at most `countUpTo`, else null (more than that) */
  total: number | null;
}

/** Every paginated list's order, in one place: the indexes of migration 090 match these. */
export const SORTS = {
  projects: [
    { col: 'name', dir: 'asc', type: 'str' },
    { col: 'id', dir: 'asc', type: 'int' },
  ],
  repositories: [
    { col: 'r.name', dir: 'asc', type: 'str' },
    { col: 'r.id', dir: 'asc', type: 'int' },
  ],
  artifacts: [
    { col: 'artifacts.pushed_at', dir: 'desc', type: 'int' },
    { col: 'artifacts.id', dir: 'desc', type: 'int' },
  ],
  /** a repository's tags and an artifact's tags, last pushed first (as Harbor lists them) */
  tags: [
    { col: 't.pushed_at', dir: 'desc', type: 'int' },
    { col: 't.id', dir: 'desc', type: 'int' },
  ],
  users: [
    { col: 'username', dir: 'asc', type: 'str' },
    { col: 'id', dir: 'asc', type: 'int' },
  ],
  robots: [
    { col: 'name', dir: 'asc', type: 'str' },
    { col: 'id', dir: 'asc', type: 'int' },
  ],
  members: [
    { col: 'x.kind', dir: 'asc', type: 'int' },
    { col: 'x.name', dir: 'asc', type: 'str' },
    { col: 'x.id', dir: 'asc', type: 'int' },
  ],
  newestFirst: [{ col: 'id', dir: 'desc', type: 'int' }],
  /** small configuration lists: webhook policies (oldest first, as they were made) */
  oldestFirst: [{ col: 'id', dir: 'asc', type: 'int' }],
  /** schedules: the name is the primary key */
  schedules: [{ col: 'name', dir: 'asc', type: 'str' }],
  scanners: [
    { col: 'name', dir: 'asc', type: 'str' },
    { col: 'id', dir: 'asc', type: 'int' },
  ],
  /** a user's directory groups: (user_id, group_name) is the primary key */
  userGroups: [{ col: 'group_name', dir: 'asc', type: 'str' }],
  findings: [
    { col: 'f.artifact_id', dir: 'desc', type: 'int' },
    { col: 'f.id', dir: 'asc', type: 'int' },
  ],
  /** a project's retention runs, newest first */
  retentionRuns: [{ col: 'rr.job_id', dir: 'desc', type: 'int' }],
  /** a retention run's decisions, in the order they were made */
  retentionItems: [{ col: 'i.id', dir: 'asc', type: 'int' }],
  /** an artifact's referrers, oldest first (as the referrers API lists them) */
  referrers: [
    { col: 'artifacts.pushed_at', dir: 'asc', type: 'int' },
    { col: 'artifacts.id', dir: 'asc', type: 'int' },
  ],
  /** a report's findings, in the order the report (or the chosen sort) gives them: keyed by their place in the report */
  reportFindings: [{ col: 'index', dir: 'asc', type: 'int' }],
} as const satisfies Record<string, readonly SortColumn[]>;

/**
 * A keyset page over rows already in memory and in order (a report's findings), each with a unique integer key
 * (`keyOf`). A position's key that is no longer among the rows (they changed under the cursor) starts the list
 * again rather than failing. `total` is exact: counting costs nothing here.
 */
export function pageArray<T>(rows: readonly T[], keyOf: (row: T) => number, req: PageRequest): KeysetPage<T> {
  let start = Math.min(req.offset ?? 0, rows.length);
  let end = Math.min(rows.length, start + req.limit);
  if (req.at) {
    const i = rows.findIndex((r) => keyOf(r) === req.at!.key[0]);
    if (i < 0) {
      start = 0;
      end = Math.min(rows.length, req.limit);
    } else if (req.at.before) {
      end = i;
      start = Math.max(0, end - req.limit);
    } else {
      start = i + 1;
      end = Math.min(rows.length, start + req.limit);
    }
  }
  const items = rows.slice(start, end);
  return {
    items,
    next: end < rows.length && items.length ? [keyOf(items[items.length - 1]!)] : null,
    prev: start > 0 && items.length ? [keyOf(items[0]!)] : null,
    total: rows.length,
  };
}

/** Signs and checks cursors: one key per installation (derived from the settings key replicas already share). */
export class CursorCodec {
  private readonly key: Buffer;
  constructor(secret: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'berth list cursor v1', 32));
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, 18);
  }

  /** A cursor for `list` (a name plus its filters) at `key`, forward (`n`) or backward (`p`). */
  encode(list: string, key: KeyValue[], before: boolean): string {
    const body = Buffer.from(JSON.stringify([list, before ? 'p' : 'n', ...key])).toString('base64url');
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  /** The position in a cursor made for `list` with `sort`'s key shape; any other cursor is a 400. */
  decode(raw: string, list: string, sort: readonly SortColumn[]): { key: KeyValue[]; before: boolean } {
    const bad = () => badRequest('cursor is invalid for this list: pass a next_cursor or prev_cursor from this list unchanged, or start again without cursor');
    if (raw.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(raw)) throw bad();
    const [body, sig] = raw.split('.') as [string, string];
    const given = Buffer.from(sig, 'base64url');
    const want = this.mac(body);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw bad();
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw bad();
    }
    if (!Array.isArray(parsed) || parsed.length !== sort.length + 2 || parsed[0] !== list || (parsed[1] !== 'n' && parsed[1] !== 'p')) throw bad();
    const key = parsed.slice(2) as unknown[];
    for (let i = 0; i < sort.length; i++) {
      const v = key[i];
      const ok = sort[i]!.type === 'int' ? Number.isSafeInteger(v) : typeof v === 'string' && v.length <= 512;
      if (!ok) throw bad();
    }
    return { key: key as KeyValue[], before: parsed[1] === 'p' };
  }
}
