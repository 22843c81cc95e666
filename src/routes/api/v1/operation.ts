import type { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../../../context.js';
import { AppError, badRequest, unauthorized } from '../../../errors.js';
import { jsonBody, type Ctx } from '../../http.js';

/**
 * One REST operation, declared once: the route registers it (`route`), its handler reads validated input through
 * it, and the OpenAPI document is generated from it (`openapi.ts`). Nothing else describes the API, so the
 * document cannot drift from what the handlers accept.
 */
export interface Operation<P extends z.ZodObject = z.ZodObject, Q extends z.ZodObject = z.ZodObject, B extends z.ZodType = z.ZodType> {
  method: 'get' | 'post' | 'put' | 'delete';
  /** the OpenAPI path under /api/v1, parameters as `{name}` */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /**
   * `signed-in` (the default): Basic (user or robot) or the session cookie with its CSRF header; `public`: anonymous
   * callers too (credentials, when given, are checked all the same); `none`: served before authentication.
   */
  security?: 'signed-in' | 'public' | 'none';
  params?: P;
  query?: Q;
  /** the JSON body (or, with `bodyTypes`, the other media types accepted) */
  body?: B;
  bodyRequired?: boolean;
  /** media types of the body besides JSON, each with its own schema (uploads) */
  bodyTypes?: Record<string, z.ZodType>;
  /** success statuses: a schema for JSON, `null` for no body, or other media types */
  responses: Record<number, Reply>;
  /** error statuses besides the ones every operation of its kind can answer (see `errorStatuses`) */
  errors?: number[];
}

export type Reply = { description: string; schema?: z.ZodType | null; types?: Record<string, z.ZodType> };

/** Declares an operation; a typed identity, so the handler's input types follow the schemas. */
type NoShape = z.ZodObject<Record<never, z.ZodType>>;
export const op = <P extends z.ZodObject = NoShape, Q extends z.ZodObject = NoShape, B extends z.ZodType = z.ZodUnknown>(o: Operation<P, Q, B>): Operation<P, Q, B> => o;

/** The input of one request, read through the operation's schemas, when the handler asks (after its checks). */
export interface Input<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType> {
  /** path parameters; a malformed one names nothing: 404 */
  params(): z.output<P>;
  /** query parameters (empty ones count as absent); 400 naming every problem */
  query(): z.output<Q>;
  /** the JSON body parsed by the operation's body schema; 415, 400 */
  body(): Promise<z.output<B>>;
}

type Issue = z.core.$ZodIssue;
/**
 * A body that fits none of a union's shapes is told what the nearest shape lacks (the one with the fewest problems),
 * not zod's bare "Invalid input".
 */
const flatten = (issues: readonly Issue[], prefix: PropertyKey[] = []): { path: PropertyKey[]; message: string }[] =>
  issues.flatMap((i) =>
    i.code === 'invalid_union' && i.errors.length
      ? flatten(
          i.errors.reduce((a, b) => (b.length < a.length ? b : a)),
          [...prefix, ...i.path],
        )
      : [{ path: [...prefix, ...i.path], message: i.message }],
  );
const problems = (e: z.ZodError) =>
  flatten(e.issues)
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');

/** The first value of every non-empty query parameter. */
function queryObject(c: Ctx): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.req.query())) if (v !== '') out[k] = v;
  return out;
}

export function input<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType>(c: Ctx, o: Operation<P, Q, B>): Input<P, Q, B> {
  return {
    params() {
      if (!o.params) return {} as z.output<P>;
      const parsed = o.params.safeParse(c.req.param());
      if (!parsed.success) throw new AppError('NOT_FOUND', `${String(parsed.error.issues[0]?.path[0] ?? 'resource')} not found`);
      return parsed.data;
    },
    query() {
      if (!o.query) return {} as z.output<Q>;
      const parsed = o.query.safeParse(queryObject(c));
      if (!parsed.success) throw badRequest(problems(parsed.error));
      return parsed.data;
    },
    async body() {
      // An operation that reads a body declares its schema: the document describes it, and nothing reads it raw.
      if (!o.body) throw new Error(`${o.method.toUpperCase()} ${o.path} reads a body it does not declare`);
      const raw = await jsonBody(c);
      const parsed = await o.body.safeParseAsync(raw);
      if (!parsed.success) throw badRequest(problems(parsed.error));
      return parsed.data;
    },
  };
}

/** `{name}` → `:name`, relative to where the router is mounted. */
export function honoPath(o: Operation, mount: string): string {
  if (!o.path.startsWith(mount)) throw new Error(`${o.path} is not under ${mount}`);
  const rest = o.path.slice(mount.length).replace(/\{(\w+)\}/g, ':$1');
  return rest === '' ? '/' : rest;
}

/** Registers an operation's handler on a router mounted at `mount` (the operation's path starts with it). */
export function route<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType>(
  r: Hono<AppEnv>,
  mount: string,
  o: Operation<P, Q, B>,
  handler: (c: Ctx, input: Input<P, Q, B>) => Response | Promise<Response>,
): void {
  const signedIn = (o.security ?? 'signed-in') === 'signed-in';
  r.on(o.method.toUpperCase(), honoPath(o as unknown as Operation, mount), (c) => {
    // Authentication before anything else: an anonymous caller of an operation for signed-in callers is told so
    // before its parameters or body are read (a malformed body must not answer 400 to someone who may not ask).
    if (signedIn && c.var.principal.kind === 'anonymous') throw unauthorized();
    return handler(c, input(c, o));
  });
}

/** The error statuses an operation can answer with the error body: from its shape, plus the declared ones. */
export function errorStatuses(o: Operation): number[] {
  const s = new Set<number>([500]);
  // Credentials are checked wherever they are given (401; 429 while a login is locked; 503 when the directory that
  // checks them is unreachable); writes need the CSRF header (403).
  if (o.security !== 'none') s.add(401).add(403).add(429).add(503);
  if (o.path.includes('{')) s.add(404);
  if (o.query || o.method !== 'get') s.add(400);
  if (o.body || o.bodyTypes) s.add(413).add(415);
  for (const x of o.errors ?? []) s.add(x);
  return [...s].sort((a, b) => a - b);
}
