import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { OPERATIONS } from '../../src/routes/api/v1/openapi.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ResponseChecker } from '../helpers/openapi.js';

// biome-ignore lint/suspicious/noExplicitAny: walking a parsed JSON document
type Json = Record<string, any>;

describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: Json;
  before(async () => {
    t = await startTestApp('sqlite');
    const res = await t.req('/api/v1/openapi.json');
    assert.equal(res.status, 200);
    doc = await res.json();
  });
  after(async () => t?.close({ drop: true }));

  it('describes exactly the operations the API serves (walking the app’s routes)', () => {
    const served = new Set<string>();
    for (const r of t.app.routes) if (r.path.startsWith('/api/v1/') && r.method !== 'ALL') served.add(`${r.method} ${r.path.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`);
    const documented = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths as Json)) for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p}`);
    assert.deepEqual([...served].filter((x) => !documented.has(x)).sort(), [], 'served but not documented');
    assert.deepEqual([...documented].filter((x) => !served.has(x)).sort(), [], 'documented but not served');
    assert.equal(documented.size, OPERATIONS.length);
  });

  it('is a valid OpenAPI 3.1 document (the specification’s JSON schema, schema dialect included)', async () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.servers[0].url, 'http://127.0.0.1:8080/api/v1');
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1)?.slice(0, 3000));
    // Every schema of the document compiles (refs resolve) with a JSON Schema 2020-12 validator.
    const checker = new ResponseChecker(doc);
    assert.ok(checker);
  });

  it('gives every operation an id, a summary, tags, security, its parameters, body and responses', () => {
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths as Json)) {
      for (const [m, o] of Object.entries(ops as Json) as [string, Json][]) {
        const where = `${m.toUpperCase()} ${p}`;
        assert.ok(o.operationId && !ids.has(o.operationId), `${where}: a unique operationId`);
        ids.add(o.operationId);
        assert.ok(o.summary, `${where}: summary`);
        assert.ok(o.tags?.length, `${where}: tags`);
        assert.ok(Array.isArray(o.security), `${where}: security`);
        const pathParams = [...p.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort();
        const declared = (o.parameters ?? [])
          .filter((x: Json) => x.in === 'path')
          .map((x: Json) => x.name)
          .sort();
        assert.deepEqual(declared, pathParams, `${where}: path parameters`);
        const statuses = Object.keys(o.responses);
        assert.ok(
          statuses.some((s) => /^2/.test(s)),
          `${where}: a success response`,
        );
        // /health answers 503 with its own body, naming what is down; every other failure is the error body.
        for (const s of statuses.filter((x) => /^[45]/.test(x) && !(p === '/health' && x === '503'))) {
          const ref = o.responses[s].$ref as string | undefined;
          const reply = ref ? doc.components.responses[ref.replace('#/components/responses/', '')] : o.responses[s];
          assert.equal(reply.content['application/json'].schema.$ref, '#/components/schemas/Errors', `${where} ${s}: the error body`);
        }
        if (o.security.length)
          assert.ok(
            ['401', '403', '429'].every((s) => statuses.includes(s)),
            `${where}: 401, 403 and 429`,
          );
        if (m === 'put' || (m === 'post' && o.requestBody)) assert.ok(o.requestBody?.content, `${where}: a request body`);
      }
    }
  });

  it('documents the query parameters of lists and filters', () => {
    const names = (p: string, m = 'get') => ((doc.paths[p][m].parameters ?? []) as Json[]).filter((x) => x.in === 'query').map((x) => x.name);
    for (const p of ['/projects', '/users', '/robots', '/vulnerabilities', '/projects/{project}/repositories', '/projects/{project}/repositories/{repo}/artifacts']) {
      assert.ok(names(p).includes('limit') && names(p).includes('page'), `${p}: limit and page`);
    }
    for (const p of ['/jobs', '/audit-logs', '/projects/{project}/webhooks/{id}/deliveries']) assert.ok(names(p).includes('limit') && names(p).includes('cursor'), `${p}: cursor`);
    assert.deepEqual(
      names('/projects/{project}/repositories/{repo}/artifacts/{reference}/vulnerabilities').filter((n) => ['severity', 'q', 'package', 'fixable', 'sort'].includes(n)),
      ['severity', 'package', 'fixable', 'q', 'sort'],
    );
    const limit = doc.paths['/projects'].get.parameters.find((x: Json) => x.name === 'limit');
    assert.deepEqual([limit.schema.type, limit.schema.minimum, limit.schema.maximum], ['integer', 1, 100]);
    assert.deepEqual(doc.paths['/projects/{project}'].put.requestBody.content['application/json'].schema.properties.severity.enum, ['low', 'medium', 'high', 'critical']);
    assert.equal(doc.paths['/projects'].get.responses['200'].content['application/json'].schema.properties.items.items.$ref, '#/components/schemas/Project');
    // The overview names exactly the fields a list answers with.
    const named = /lists are `\{([^}]*)\}`/
      .exec(doc.info.description)![1]!
      .split(',')
      .map((f: string) => f.trim().replace(/\?$/, ''));
    assert.deepEqual(named.sort(), Object.keys(doc.paths['/projects'].get.responses['200'].content['application/json'].schema.properties).sort());
  });

  it('validates parameters with the schemas it documents', async () => {
    const bad = await t.req('/api/v1/projects?limit=1000');
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).errors[0].message, /limit must be between 1 and 100/);
    assert.equal((await t.req('/api/v1/projects?limit=abc')).status, 400);
    const page0 = await t.req('/api/v1/projects?page=0');
    assert.equal(page0.status, 400);
    assert.equal((await page0.json()).errors[0].message, 'page: page must be at least 1');
    assert.equal((await t.req('/api/v1/projects?limit=5')).status, 200);
  });

  it('the response check fails on an answer the document does not describe', async () => {
    const checker = new ResponseChecker(doc);
    const ok = new Response(JSON.stringify({ items: [], limit: 20, page: 1, next_cursor: null, prev_cursor: null, total: 0 }), { headers: { 'content-type': 'application/json' } });
    await checker.check('GET', '/api/v1/projects', ok);
    const extra = new Response(JSON.stringify({ items: [{ name: 'x' }], total: 1 }), { headers: { 'content-type': 'application/json' } });
    await assert.rejects(checker.check('GET', '/api/v1/projects', extra), /does not match the document/);
    const status = new Response(JSON.stringify({ errors: [{ code: 'CONFLICT', message: 'x' }] }), { status: 409, headers: { 'content-type': 'application/json' } });
    await assert.rejects(checker.check('GET', '/api/v1/projects', status), /status 409 is not documented/);
    const errorShape = new Response(JSON.stringify({ error: 'nope' }), { status: 404, headers: { 'content-type': 'application/json' } });
    await assert.rejects(checker.check('GET', '/api/v1/projects/p', errorShape), /does not match the document/);
  });
});
