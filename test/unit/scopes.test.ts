import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScope, parseScopes } from '../../src/auth/scopes.js';

const hosts = ['registry.example.org', '127.0.0.1:8080'];

describe('parseScope', () => {
  const ok: [string, string, string, string[]][] = [
    ['repository:p1/app:pull', 'p1/app', 'p1', ['pull']],
    ['repository:p1/app:pull,push', 'p1/app', 'p1', ['pull', 'push']],
    ['repository:p1/app:push,pull,push', 'p1/app', 'p1', ['push', 'pull']],
    ['repository:p1/team/app:*', 'p1/team/app', 'p1', ['*']],
    ['repository:p1/app:delete', 'p1/app', 'p1', ['delete']],
    ['repository:127.0.0.1:8080/p1/app:pull', 'p1/app', 'p1', ['pull']],
    ['repository:registry.example.org/p1/app:pull', 'p1/app', 'p1', ['pull']],
    ['repository:p1/app:pull,frobnicate', 'p1/app', 'p1', ['pull']],
    ['repository:p1/a__b-c.d:pull', 'p1/a__b-c.d', 'p1', ['pull']],
  ];
  for (const [raw, name, project, actions] of ok) {
    it(`parses ${raw}`, () => {
      const s = parseScope(raw, hosts);
      assert.ok(s && s.type === 'repository');
      assert.equal(s.name, name);
      assert.equal(s.project, project);
      assert.deepEqual(s.actions, actions);
    });
  }
  const bad = [
    'repository:app:pull', // no project
    'repository:P1/app:pull', // upper case
    'repository:p1/../app:pull',
    'repository:p1//app:pull',
    'repository:/p1/app:pull',
    'repository:p1/app/:pull',
    'repository:p1%2fapp:pull',
    'repository:other.example.org/p1/app:pull', // another registry's name
    'repository:evil.com:443/p1/app:pull',
    'repository(plugin):p1/app:pull',
    'repository:p1/app',
    'repository::pull',
    'registry:catalog:pull',
    'registry:other:*',
    'repo:p1/app:pull',
    ':',
    '',
    `repository:p1/${'a'.repeat(300)}:pull`,
    'repository:p1/app\n:pull',
  ];
  for (const raw of bad) it(`rejects ${JSON.stringify(raw.slice(0, 60))}`, () => assert.equal(parseScope(raw, hosts), null));
  it('reads the catalog scope', () => assert.deepEqual(parseScope('registry:catalog:*', hosts), { type: 'registry', name: 'catalog', actions: ['*'] }));
});

describe('parseScopes', () => {
  it('reads repeated and space-separated parameters, de-duplicated', () => {
    const s = parseScopes(['repository:p1/a:pull repository:p1/b:push', 'repository:p1/a:pull', 'registry:catalog:*'], hosts);
    assert.deepEqual(
      s.map((x) => `${x.type}:${x.name}`),
      ['repository:p1/a', 'repository:p1/b', 'registry:catalog'],
    );
  });
  it('caps the number of scopes', () => {
    const many = Array.from({ length: 100 }, (_, i) => `repository:p1/r${i}:pull`);
    assert.equal(parseScopes(many, hosts).length, 32);
  });
});
