import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from '../../../context.js';
import { auditLogOps } from './audit-logs.js';
import { healthOps } from './health.js';
import { identityOps } from './identity.js';
import { jobOps, scheduleOps } from './jobs.js';
import { errorStatuses, op, route, type Operation } from './operation.js';
import { projectOps } from './projects.js';
import { repositoryOps } from './repositories.js';
import { retentionOps } from './retention.js';
import { robotOps } from './robots.js';
import { scannerOps, scanOps, scanSystemOps } from './scans.js';
import { LIST_HEADERS } from '../../pagination.js';
import { errorBody } from './schemas.js';
import { systemOps } from './system.js';
import { userOps } from './users.js';
import { vulnerabilityOps } from './vulnerabilities.js';
import { webhookOps } from './webhooks.js';

export const openApiOps = {
  document: op({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    tag: 'system',
    security: 'none',
    responses: { 200: { description: 'the document', schema: z.looseObject({ openapi: z.literal('3.1.0') }) } },
  }),
};

/** Every REST operation, once, as the route modules declare and register them. */
export const OPERATIONS: Operation[] = [
  healthOps,
  userOps,
  identityOps,
  projectOps,
  repositoryOps,
  scanOps,
  scannerOps,
  webhookOps,
  retentionOps,
  robotOps,
  auditLogOps,
  jobOps,
  scheduleOps,
  systemOps,
  scanSystemOps,
  vulnerabilityOps,
  openApiOps,
].flatMap((group) => Object.values(group) as unknown as Operation[]);

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request: a parameter or the body is malformed',
  401: 'authentication required (or the credentials are wrong)',
  403: 'permission denied',
  404: 'not found (or not visible to the caller)',
  405: 'method not allowed',
  409: 'conflict',
  412: 'precondition failed',
  413: 'request body too large',
  415: 'unsupported media type',
  422: 'unprocessable',
  429: 'too many requests',
  500: 'internal error (the message names a request id)',
  503: 'unavailable',
};

type Json = Record<string, unknown>;

/**
 * Converts zod schemas to JSON Schema 2020-12 (what OpenAPI 3.1 uses), moving every schema with an id to
 * `components.schemas`. One id must mean one schema: a second, different one is a programming error.
 */
class SchemaCollector {
  readonly components: Record<string, Json> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): Json {
    const js = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
    const defs = (js.$defs ?? {}) as Record<string, Json>;
    delete js.$defs;
    delete js.$schema;
    for (const [id, def] of Object.entries(defs)) {
      const body = rewriteRefs(def) as Json;
      const seen = this.components[id];
      if (seen && JSON.stringify(seen) !== JSON.stringify(body)) throw new Error(`OpenAPI: two different schemas named ${id}`);
      this.components[id] = body;
    }
    return rewriteRefs(js) as Json;
  }
}

function rewriteRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = k === '$ref' && typeof x === 'string' ? x.replace(/^#\/\$defs\//, '#/components/schemas/') : rewriteRefs(x);
    return out;
  }
  return v;
}

const operationId = (o: Operation) =>
  o.method +
  o.path
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/[{}.]/g, '').replace(/(^|[-_])(\w)/g, (_m, _p, ch: string) => ch.toUpperCase()))
    .join('');

function parameters(schemas: SchemaCollector, o: Operation): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', o.params],
    ['query', o.query],
  ] as const) {
    if (!schema) continue;
    const js = schemas.convert(schema, 'input');
    const required = new Set((js.required as string[] | undefined) ?? []);
    for (const [name, prop] of Object.entries((js.properties ?? {}) as Record<string, Json>)) {
      const { description, ...rest } = prop;
      out.push({ name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest });
    }
  }
  return out;
}

/** The OpenAPI 3.1 document of /api/v1, generated from the operations' zod schemas. */
export function openApiDocument(externalUrl: string, ops: Operation[] = OPERATIONS): Json {
  const schemas = new SchemaCollector();
  const errorRef = schemas.convert(errorBody, 'output');
  // One shared response object per error status (every operation answers several): `#/components/responses/Error<status>`.
  const errorResponses: Record<string, Json> = {};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const o of ops) {
    const responses: Json = {};
    for (const [status, reply] of Object.entries(o.responses)) {
      const content: Json = {};
      if (reply.schema) content['application/json'] = { schema: schemas.convert(reply.schema, 'output') };
      for (const [type, s] of Object.entries(reply.types ?? {})) content[type] = { schema: schemas.convert(s, 'output') };
      // A paged list (its query takes `cursor`) sends Link and X-Total-Count with its page.
      const paged = status === '200' && !!o.query && 'cursor' in o.query.shape;
      responses[status] = { description: reply.description, ...(paged ? { headers: LIST_HEADERS } : {}), ...(Object.keys(content).length ? { content } : {}) };
    }
    for (const status of errorStatuses(o)) {
      if (responses[String(status)]) continue;
      errorResponses[`Error${status}`] ??= { description: STATUS_TEXT[status] ?? 'error', content: { 'application/json': { schema: errorRef } } };
      responses[String(status)] = { $ref: `#/components/responses/Error${status}` };
    }
    let requestBody: Json | undefined;
    if (o.body || o.bodyTypes) {
      const content: Json = {};
      if (o.body) content['application/json'] = { schema: schemas.convert(o.body, 'input') };
      for (const [type, s] of Object.entries(o.bodyTypes ?? {})) content[type] = { schema: schemas.convert(s, 'input') };
      requestBody = { required: o.bodyRequired ?? true, content };
    }
    const params = parameters(schemas, o);
    paths[o.path] ??= {};
    paths[o.path]![o.method] = {
      operationId: operationId(o),
      summary: o.summary,
      ...(o.description ? { description: o.description } : {}),
      tags: [o.tag],
      security: o.security === 'none' ? [] : o.security === 'public' ? [{}, { basic: [] }, { session: [] }] : [{ basic: [] }, { session: [] }],
      ...(params.length ? { parameters: params } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth REST API',
      version: '1',
      description:
        'Errors are always `{"errors":[{"code","message"}]}`; lists are `{items, limit, page?, next_cursor, prev_cursor, total}` (`page` when paged by number; `total` is null past 1000 rows; pass a cursor back unchanged as `cursor`).',
    },
    servers: [{ url: `${externalUrl}/api/v1` }],
    security: [{ basic: [] }, { session: [] }],
    tags: [...new Set(ops.map((o) => o.tag))].sort().map((name) => ({ name })),
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'A user or a robot account (robot$…)' },
        session: { type: 'apiKey', in: 'cookie', name: 'berth_session', description: 'The UI session; writes also need the X-CSRF-Token header' },
      },
      schemas: Object.fromEntries(Object.entries(schemas.components).sort(([a], [b]) => a.localeCompare(b))),
      responses: Object.fromEntries(Object.entries(errorResponses).sort(([a], [b]) => a.localeCompare(b))),
    },
    paths,
  };
}

export function openApiRoutes(services: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const doc = openApiDocument(services.config.externalUrl);
  route(r, '', openApiOps.document, (c) => c.json(doc));
  return r;
}
