/**
 * One pagination contract for every list, REST and UI alike (the OpenAPI description reads the same schemas):
 *
 * - `limit` 1–100 (each list has its default);
 * - `cursor`: opaque, from a previous answer's `next_cursor` or `prev_cursor`; HMAC-signed and bound to its list and
 *   filters, so a cursor that was altered, truncated or made for another list is a 400, never a query;
 * - `page` (1-based): kept for small lists and first pages; `(page − 1) × limit` may not pass {@link MAX_PAGE_OFFSET}
 *   (deep offsets cost the database a scan past every skipped row), beyond that a 400 says to follow cursors;
 *   `page` and `cursor` together are a 400.
 *
 * The envelope: `{items, limit, next_cursor, prev_cursor, total}` (+ `page` when paged by number). `total` is exact
 * up to {@link TOTAL_CAP} matching rows and `null` beyond (counting a million-row list is what makes lists slow);
 * `X-Total-Count` is sent only with an exact total.
 */
import { z } from 'zod';
import { type KeysetPage, MAX_PAGE_OFFSET, type PageRequest, type SortColumn, TOTAL_CAP, MAX_CURSOR_CHARS } from '../paging.js';
import { badRequest } from '../errors.js';
import type { Ctx } from './http.js';

/**
 * A whole-number query parameter in [min, max] (query strings are text; the document shows an integer). With
 * `max` at Number.MAX_SAFE_INTEGER (no real upper bound) the message names only the lower one.
 */
export const intQuery = (name: string, min: number, max: number) => {
  const range = max >= Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
  return z.coerce
    .number({ error: `${name} must be a whole number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be ${range}`)
    .max(max, `${name} must be ${range}`);
};

/**
 * The default page of the small configuration lists (webhook policies, schedules, scanner adapters, a user's groups):
 * the largest `limit`, so the usual installation sees its whole list on one page and clients that never sent `limit`
 * keep working; longer lists (one retention schedule per project, say) go on by `next_cursor`.
 */
export const CONFIG_LIST_LIMIT = 100;

/** The query parameters every list takes (and documents); `maxLimit` is 100 but for tags (small rows: 1000). */
export const paginationQuery = (maxLimit = 100) =>
  z.object({
    limit: intQuery('limit', 1, maxLimit).optional().describe(`Rows per page, 1–${maxLimit} (default depends on the list).`),
    page_size: intQuery('page_size', 1, maxLimit).optional().describe('The same as `limit` (Harbor’s name).'),
    cursor: z.string().max(MAX_CURSOR_CHARS, 'cursor is not one this server issued').optional().describe('Opaque position from a previous answer (`next_cursor` or `prev_cursor`).'),
    page: intQuery('page', 1, Number.MAX_SAFE_INTEGER).optional().describe(`1-based page number, for small lists: (page − 1) × limit may not exceed ${MAX_PAGE_OFFSET}; follow cursors beyond.`),
  });

/** The parameters of every list but tags. */
export const paginationQuerySchema = paginationQuery();

/** The list envelope every list answers with. */
export const listEnvelopeSchema = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    limit: z.number().int(),
    page: z.number().int().optional().describe('present when the request paged by number'),
    next_cursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page'),
    prev_cursor: z.string().nullable().describe('pass as `cursor` for the previous page; null on the first page'),
    total: z.number().int().nullable().describe(`matching rows when at most ${TOTAL_CAP}, else null`),
  });

export interface ListQuery {
  limit: number;
  /** set when paged by number */
  page?: number;
  /** the request for the repository function */
  req: PageRequest;
}

/**
 * The list query of a request: `limit` (default `defaultLimit`), then a cursor for `list` or a capped `page`.
 * `countTotal`: whether the list reports a (capped) total.
 */
export function listQuery(c: Ctx, list: string, sort: readonly SortColumn[], opts: { defaultLimit?: number; maxLimit?: number; countTotal?: boolean } = {}): ListQuery {
  const parsed = (opts.maxLimit ? paginationQuery(opts.maxLimit) : paginationQuerySchema).safeParse({
    limit: c.req.query('limit') || undefined,
    page_size: c.req.query('page_size') || undefined,
    cursor: c.req.query('cursor') || undefined,
    page: c.req.query('page') || undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badRequest(issue.message);
  }
  const { cursor, page } = parsed.data;
  const limit = parsed.data.limit ?? parsed.data.page_size ?? opts.defaultLimit ?? 20;
  const countUpTo = opts.countTotal === false ? 0 : TOTAL_CAP;
  if (cursor !== undefined && page !== undefined) throw badRequest('page and cursor cannot be combined: follow next_cursor alone');
  if (cursor !== undefined) return { limit, req: { limit, at: c.var.services.cursors.decode(cursor, list, sort), countUpTo } };
  const p = page ?? 1;
  const offset = (p - 1) * limit;
  if (offset > MAX_PAGE_OFFSET) throw badRequest(`page ${p} is too deep for page numbers (more than ${MAX_PAGE_OFFSET} rows in): follow next_cursor from an earlier page instead`);
  return { limit, page: p, req: { limit, offset, countUpTo } };
}

/**
 * The list envelope for a page, with `X-Total-Count` when the total is exact and a `Link` header (RFC 8288, as Harbor
 * sends it) to the next and previous pages: the request's own path and query with `cursor` in place of `page`.
 */
export function listResponse<T, R>(c: Ctx, list: string, q: ListQuery, page: KeysetPage<R>, map: (row: R) => T) {
  const cursors = c.var.services.cursors;
  if (page.total !== null) c.header('X-Total-Count', String(page.total));
  const next = page.next ? cursors.encode(list, page.next, false) : null;
  const prev = page.prev ? cursors.encode(list, page.prev, true) : null;
  const url = new URL(c.req.url);
  const link = (cursor: string, rel: string) => {
    const u = new URLSearchParams(url.search);
    u.delete('page');
    u.set('cursor', cursor);
    return `<${url.pathname}?${u.toString()}>; rel="${rel}"`;
  };
  const links = [...(next ? [link(next, 'next')] : []), ...(prev ? [link(prev, 'prev')] : [])];
  if (links.length) c.header('Link', links.join(', '));
  return c.json({
    items: page.items.map(map),
    limit: q.limit,
    ...(q.page !== undefined ? { page: q.page } : {}),
    next_cursor: next,
    prev_cursor: prev,
    total: page.total,
  });
}

/** The response headers every paged list sends, as the OpenAPI document describes them. */
export const LIST_HEADERS = {
  Link: {
    description: 'RFC 8288 links to the next and previous pages (`rel="next"`, `rel="prev"`): this path and query with `cursor` set; absent on a single page',
    schema: { type: 'string' },
  },
  'X-Total-Count': { description: 'the number of matching rows, when at most 1000 (the `total` of the body)', schema: { type: 'integer' } },
} as const;

/**
 * A UI pager: previous/next links that carry cursors and keep the page's other query parameters. `at`: the path of
 * the GET page the links lead to when a POST renders the page (a 422 form answer at a URL that takes no GET).
 */
export function cursorPager<R>(c: Ctx, list: string, page: KeysetPage<R>, q?: ListQuery, at?: string) {
  const url = new URL(c.req.url);
  if (at) url.pathname = at;
  const href = (cursor: string | null) => {
    if (!cursor) return null;
    const u = new URLSearchParams(url.search);
    u.delete('page');
    u.set('cursor', cursor);
    return `${url.pathname}?${u.toString()}`;
  };
  const cursors = c.var.services.cursors;
  const first = new URLSearchParams(url.search);
  first.delete('page');
  first.delete('cursor');
  return {
    prev: href(page.prev ? cursors.encode(list, page.prev, true) : null),
    next: href(page.next ? cursors.encode(list, page.next, false) : null),
    first: url.searchParams.has('cursor') || url.searchParams.has('page') ? `${url.pathname}${first.size ? `?${first.toString()}` : ''}` : null,
    total: page.total,
    // set when counting stopped at the cap (lists that are not counted at all show no count)
    cap: page.total === null && q?.req.countUpTo ? TOTAL_CAP : null,
    // "Page 2 of 3" where both are known: paged by number (a cursor's page has no number) with an exact total.
    page: q?.page !== undefined && page.total !== null ? q.page : null,
    pages: q?.page !== undefined && page.total !== null ? Math.max(1, Math.ceil(page.total / q.limit)) : null,
  };
}

/** A list's identity inside its cursors: its name and the filters that shape it (a cursor is valid for those only). */
export const listId = (name: string, ...filters: (string | number | boolean | null | undefined)[]) => [name, ...filters.map((f) => (f === undefined || f === null ? '' : String(f)))].join('|');
