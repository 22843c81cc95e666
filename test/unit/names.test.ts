import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { projectNameProblem, repositoryPathProblem, usernameProblem } from '../../src/auth/names.js';

describe('project names', () => {
  const ok = ['ab', 'p1', 'team-app', 'a.b', 'a_b', 'x'.repeat(255), '0day', 'a-b-c.d_e'];
  const bad = ['a', '', 'A1', 'ab-', '-ab', 'a..b', 'a--b', 'a__b', 'a/b', 'ab ', "a'b", 'a;drop', '%61b', 'x'.repeat(256), 'ünï', 'a\nb'];
  for (const n of ok) it(`accepts ${JSON.stringify(n.slice(0, 20))}`, () => assert.equal(projectNameProblem(n), null));
  for (const n of bad) it(`rejects ${JSON.stringify(n.slice(0, 20))}`, () => assert.notEqual(projectNameProblem(n), null));
  it('rejects non-strings', () => {
    assert.notEqual(projectNameProblem(42), null);
    assert.notEqual(projectNameProblem(null), null);
  });
});

describe('usernames', () => {
  for (const n of ['alice', 'Bob.Smith', 'u1', 'a_b-c']) it(`accepts ${n}`, () => assert.equal(usernameProblem(n), null));
  for (const n of ['', '.a', 'a b', 'a:b', '<script>', 'x'.repeat(65), 'robot$x']) it(`rejects ${JSON.stringify(n.slice(0, 12))}`, () => assert.notEqual(usernameProblem(n), null));
});

describe('repository paths', () => {
  for (const n of ['app', 'team/app', 'a__b', 'a---b', 'a.b/c_d']) it(`accepts ${n}`, () => assert.equal(repositoryPathProblem(n), null));
  for (const n of ['', '/app', 'app/', 'a//b', '../x', 'A', 'a/./b', 'a%2fb']) it(`rejects ${JSON.stringify(n)}`, () => assert.notEqual(repositoryPathProblem(n), null));
});
