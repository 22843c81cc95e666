import type { Context, MiddlewareHandler } from 'hono';
import { isSystemAdmin } from '../auth/principal.js';
import type { AppEnv } from '../context.js';
import { AppError, badRequest, denied, unauthorized } from '../errors.js';
import { findingFilterProblem, type FindingFilter } from '../scanner/findings.js';
import type { Severity } from '../scanner/severity.js';

export type Ctx = Context<AppEnv>;

/**
 * The one system-admin check of every route, REST and UI: an anonymous caller gets 401 `UNAUTHORIZED`
 * ("authentication required"; UI pages send anonymous visitors to the login page before this), a signed-in user who
 * is not a system admin, or a robot, 403 `DENIED` with `refusal`, which says what only system admins may do.
 */
export function requireSystemAdmin(c: Ctx, refusal: string): void {
  const p = c.var.principal;
  if (p.kind === 'anonymous') throw unauthorized();
  if (!isSystemAdmin(p)) throw denied(refusal, { key: 'admins_only' });
}

/** {@link requireSystemAdmin} as middleware for a group of routes. */
export const systemAdminOnly =
  (refusal: string): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    requireSystemAdmin(c, refusal);
    await next();
  };

export interface PageQuery {
  page: number;
  limit: number;
  offset: number;
}

/** `page` (1-based) and `limit` (1–100, default 20) from the query string; bad values are a 400. */
export function pageQuery(c: Ctx, defaults = { limit: 20 }): PageQuery {
  const page = intParam(c.req.query('page'), 'page', 1, 1_000_000) ?? 1;
  const limit = intParam(c.req.query('limit') ?? c.req.query('page_size'), 'limit', 1, 100) ?? defaults.limit;
  return { page, limit, offset: (page - 1) * limit };
}

export function intParam(raw: string | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,16}$/.test(raw)) throw badRequest(`${name} must be a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw badRequest(`${name} must be between ${min} and ${max}`);
  return n;
}

/** An id from the path, or 404 (a malformed id names nothing). */
export function pathId(c: Ctx, name: string): number {
  const raw = c.req.param(name) ?? '';
  if (!/^\d{1,15}$/.test(raw)) throw new AppError('NOT_FOUND', `${name} not found`);
  return Number(raw);
}

/** The JSON body as an object; 415 for another media type, 400 for malformed JSON. */
export async function jsonBody(c: Ctx): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) throw new AppError('UNSUPPORTED', 'expected Content-Type: application/json');
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw badRequest('malformed JSON body');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('expected a JSON object');
  return body as Record<string, unknown>;
}

export const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/** The finding filter from query parameters (shared by the API and the artifact page). */
export function findingFilter(c: Ctx): FindingFilter {
  const sev = c.req.query('severity');
  const sort = c.req.query('sort');
  const problem = findingFilterProblem({ severity: sev, sort });
  if (problem) throw badRequest(problem);
  return {
    severity: (sev || undefined) as Severity | undefined,
    package: c.req.query('package')?.slice(0, 255) || undefined,
    fixable: c.req.query('fixable') === 'true' || c.req.query('fixable') === '1',
    q: c.req.query('q')?.slice(0, 255) || undefined,
    sort: (sort || undefined) as FindingFilter['sort'],
  };
}
