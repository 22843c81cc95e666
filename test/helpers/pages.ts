/** The REST list envelope every paged list answers with (src/routes/pagination.ts). */
export interface Envelope<T> {
  items: T[];
  limit: number;
  /** offset-paged lists only */
  page?: number;
  next_cursor: string | null;
  prev_cursor: string | null;
  total: number | null;
}

/** The href of a UI pager's `rel="next"` / `rel="prev"` link in a page's HTML (entities decoded), or null. */
export const nextLink = (html: string) => /<a href="([^"]+)" rel="next">/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;
export const prevLink = (html: string) => /<a href="([^"]+)" rel="prev">/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;
