import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATIONS } from '../../src/routes/api/v1/openapi.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('OpenAPI document', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('sqlite');
  });
  after(async () => t?.close({ drop: true }));

  it('describes exactly the operations the API serves', () => {
    const served = new Set<string>();
    for (const r of t.app.routes) if (r.path.startsWith('/api/v1/') && r.method !== 'ALL') served.add(`${r.method} ${r.path.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`);
    const documented = new Set(OPERATIONS.map(([m, p]) => `${m.toUpperCase()} ${p}`));
    assert.deepEqual([...served].filter((x) => !documented.has(x)).sort(), [], 'served but not documented');
    assert.deepEqual([...documented].filter((x) => !served.has(x)).sort(), [], 'documented but not served');
  });

  it('is served as OpenAPI 3.1 JSON', async () => {
    const res = await t.req('/api/v1/openapi.json');
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.servers[0].url, 'http://127.0.0.1:8080/api/v1');
    assert.ok(doc.paths['/projects/{project}/repositories/{repo}/artifacts/{reference}/vulnerabilities'].get.parameters.length === 3);
  });
});
