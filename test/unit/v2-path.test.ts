import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseV2Path, reasonPhrase } from '../../src/registry/proxy.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseV2Path', () => {
  const ok: [string, string, string | undefined, string | undefined][] = [
    ['/v2/', 'base', undefined, undefined],
    ['/v2', 'base', undefined, undefined],
    ['/v2/_catalog?n=10', 'catalog', undefined, undefined],
    ['/v2/p1/app/manifests/latest', 'manifest', 'p1/app', 'latest'],
    [`/v2/p1/app/manifests/${D}`, 'manifest', 'p1/app', D],
    ['/v2/p1/team/app/manifests/v1.2_3-x', 'manifest', 'p1/team/app', 'v1.2_3-x'],
    [`/v2/p1/app/blobs/${D}`, 'blob', 'p1/app', D],
    ['/v2/p1/app/blobs/uploads/', 'upload', 'p1/app', ''],
    ['/v2/p1/app/blobs/uploads/3f2a-b_c=?_state=xyz', 'upload', 'p1/app', '3f2a-b_c='],
    [`/v2/p1/app/blobs/uploads/?mount=${D}&from=p2/other`, 'upload', 'p1/app', ''],
    ['/v2/p1/app/tags/list?n=5', 'tags', 'p1/app', undefined],
    ['/v2/p1/manifests/manifests/latest', 'manifest', 'p1/manifests', 'latest'],
  ];
  for (const [url, kind, name, ref] of ok) {
    it(`accepts ${url}`, () => {
      const r = parseV2Path('GET', url);
      assert.ok(!('status' in r), JSON.stringify(r));
      assert.equal(r.kind, kind);
      assert.equal(r.name, name);
      assert.equal(r.reference, ref);
      if (name) assert.equal(r.project, name.split('/')[0]);
    });
  }
  const bad: [string, number][] = [
    ['/v2/p1/../p2/app/manifests/latest', 400],
    ['/v2/p1/./app/manifests/latest', 400],
    ['/v2/p1%2fapp/manifests/latest', 400],
    ['/v2/p1/app/manifests/%2e%2e', 400],
    ['/v2/p1//app/manifests/latest', 400],
    ['/v2/p1\\app/manifests/latest', 400],
    ['/v2/app/manifests/latest', 404],
    ['/v2/P1/app/manifests/latest', 404],
    ['/v2/p1/app/manifests/..', 400],
    ['/v2/p1/app/manifests/-bad', 400],
    ['/v2/p1/app/blobs/notadigest', 400],
    ['/v2/p1/app/blobs/uploads/../../x', 400],
    ['/v2/p1/app/unknown/x', 404],
    [`/v2/p1/${'a'.repeat(300)}/manifests/latest`, 404],
    [`/v2/${'a/'.repeat(1100)}manifests/x`, 414],
  ];
  for (const [url, status] of bad) {
    it(`refuses ${url.slice(0, 60)} with ${status}`, () => {
      const r = parseV2Path('GET', url);
      assert.ok('status' in r, JSON.stringify(r));
      assert.equal(r.status, status);
    });
  }
});

describe('reasonPhrase (what the docker engine prints for a 5xx refusal)', () => {
  const cases: [number, string, string][] = [
    [503, 'Berth is read-only while garbage collection runs: retry in a few minutes', 'Service Unavailable: Berth is read-only while garbage collection runs: retry in a few minutes'],
    [500, 'internal error (request id 1-2)', 'Internal Server Error: internal error (request id 1-2)'],
    [503, 'p/app@sha256:abc… gone', 'Service Unavailable: p/app@sha256:abc... gone'],
    [503, 'line\r\nX-Injected: 1', 'Service Unavailable: line??X-Injected: 1'],
    [503, 'café ✓\t', 'Service Unavailable: caf? ??'],
    [599, 'odd', 'Error: odd'],
  ];
  for (const [status, message, want] of cases) {
    it(JSON.stringify(message), () => assert.equal(reasonPhrase(status, message), want));
  }
  it('is cut at 300 characters', () => {
    const r = reasonPhrase(503, 'x'.repeat(1000));
    assert.equal(r.length, 300);
    assert.ok(r.endsWith('...'));
  });
});
