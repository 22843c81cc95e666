import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { openApiDocument } from '../../src/routes/api/v1/openapi.js';

// ajv-formats is CommonJS: its default export is the function under tsx and node alike.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, unknown>;
interface Route {
  method: string;
  template: string;
  re: RegExp;
  /** literal segments first: /users/current wins over /users/{id} */
  literals: number;
  operation: Json;
}

/** What the suite saw: `METHOD /template` → statuses answered. */
export const seen = new Map<string, Set<number>>();

/**
 * Checks answers of /api/v1 against the OpenAPI document the app serves: the status must be one the operation
 * documents, and a JSON body must validate against the schema documented for that status. A mismatch throws.
 */
export class ResponseChecker {
  private readonly ajv: Ajv2020;
  private readonly routes: Route[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly doc: Json = openApiDocument('http://127.0.0.1:8080')) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'openapi.json', components: doc.components }, undefined, undefined, false);
    for (const [template, ops] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      const re = new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`);
      const literals = template.split('/').filter((s) => s && !s.startsWith('{')).length;
      for (const [method, operation] of Object.entries(ops)) this.routes.push({ method: method.toUpperCase(), template, re, literals, operation });
    }
    this.routes.sort((a, b) => b.literals - a.literals);
  }

  /** A `#/components/…` reference of the document. */
  private resolve(ref: string): Json {
    let at: unknown = this.doc;
    for (const part of ref.replace(/^#\//, '').split('/')) at = (at as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (!at) throw new Error(`OpenAPI: unresolvable ${ref}`);
    return at as Json;
  }

  private validator(pointer: string, schema: unknown): ValidateFunction {
    let v = this.compiled.get(pointer);
    if (!v) {
      // Bodies refer to `#/components/schemas/…`: resolve those against the document's components.
      v = this.ajv.compile(rewrite(schema));
      this.compiled.set(pointer, v);
    }
    return v;
  }

  /** Throws when the answer does not match the document. `path` is the request path (with /api/v1). */
  async check(method: string, url: string, res: Response): Promise<void> {
    const path = new URL(url, 'http://x').pathname;
    if (!path.startsWith('/api/v1/') || method === 'HEAD' || method === 'OPTIONS') return;
    const local = path.slice('/api/v1'.length);
    const route = this.routes.find((r) => r.method === method && r.re.test(local));
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const text = type === 'application/json' ? await res.clone().text() : undefined;
    const where = `${method} ${path} → ${res.status}`;
    if (!route) {
      // Not an operation: only the error body may answer (404 for an unknown path, 405 …).
      if (res.status < 400) throw new Error(`OpenAPI: ${where} is not a documented operation`);
      if (text !== undefined) this.validate(`${where} (undocumented path)`, '/components/schemas/Errors', { $ref: '#/components/schemas/Errors' }, text);
      return;
    }
    const key = `${method} ${route.template}`;
    if (!seen.has(key)) seen.set(key, new Set());
    seen.get(key)!.add(res.status);
    const responses = route.operation.responses as Record<string, Json>;
    let reply = responses[String(res.status)] ?? responses.default;
    if (reply && typeof reply.$ref === 'string') reply = this.resolve(reply.$ref);
    if (!reply) throw new Error(`OpenAPI: ${where}: status ${res.status} is not documented for ${key} (documented: ${Object.keys(responses).join(', ')})`);
    const content = reply.content as Record<string, { schema: unknown }> | undefined;
    if (res.status === 204 || res.status === 304) return;
    if (!content) {
      if (res.headers.get('content-length') !== '0' && (await res.clone().arrayBuffer()).byteLength > 0) throw new Error(`OpenAPI: ${where}: a body, but ${key} documents none for ${res.status}`);
      return;
    }
    const documented = content[type];
    if (!documented) throw new Error(`OpenAPI: ${where}: Content-Type ${type || '(none)'} not documented for ${key} (documented: ${Object.keys(content).join(', ')})`);
    if (text !== undefined) this.validate(where, `/paths/${esc(route.template)}/${method.toLowerCase()}/responses/${res.status}`, documented.schema, text);
  }

  private validate(where: string, pointer: string, schema: unknown, text: string): void {
    const body = JSON.parse(text) as unknown;
    const v = this.validator(pointer, schema);
    if (!v(body)) {
      const errs = (v.errors ?? []).slice(0, 8).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
      throw new Error(`OpenAPI: ${where}: the body does not match the document:\n  ${errs.join('\n  ')}\nbody: ${text.slice(0, 600)}`);
    }
  }
}

const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** `#/components/schemas/X` → `openapi.json#/components/schemas/X` (the components live in the added schema). */
function rewrite(v: unknown): Json {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') {
      const out: Json = {};
      for (const [k, y] of Object.entries(x)) out[k] = k === '$ref' && typeof y === 'string' && y.startsWith('#/components/') ? `openapi.json${y}` : walk(y);
      return out;
    }
    return x;
  };
  return walk(v) as Json;
}

let shared: ResponseChecker | undefined;
/** One checker per test process (compiling the document once). */
export const responseChecker = (): ResponseChecker => (shared ??= new ResponseChecker());
