import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRetention, repositoryGlob, retentionRuleSchema, type RetentionArtifact, type RetentionRule } from '../../src/services/retention-rules.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 29);
let nextId = 1;
const a = (repository: string, tags: string[], pushedDaysAgo: number, pulledDaysAgo: number | null = null, extra: Partial<RetentionArtifact> = {}): RetentionArtifact => {
  const id = nextId++;
  return { id, repository, digest: `sha256:${String(id).padStart(64, '0')}`, tags, pushedAt: NOW - pushedDaysAgo * DAY, pulledAt: pulledDaysAgo === null ? null : NOW - pulledDaysAgo * DAY, size: 100 * id, parents: [], ...extra };
};
const rule = (retain: RetentionRule['retain'], more: Partial<RetentionRule> = {}): RetentionRule => ({ repositories: '**', tags: '**', untagged: false, retain, ...more });
const deleted = (rules: RetentionRule[], arts: RetentionArtifact[], immutableTags: string[] = []) =>
  decideRetention(rules, arts, { now: NOW, immutableTags })
    .filter((v) => !v.keep)
    .map((v) => v.artifact.tags.join('+') || v.artifact.digest.slice(-3))
    .sort();

describe('retention decisions', () => {
  it('keeps the newest N by push time, per repository', () => {
    const arts = [a('app', ['v1'], 5), a('app', ['v2'], 4), a('app', ['v3'], 3), a('app', ['v4'], 1), a('web', ['w1'], 9)];
    assert.deepEqual(deleted([rule({ kind: 'latest_pushed', count: 2 })], arts), ['v1', 'v2']);
  });

  it('keeps the newest N by pull time; a never-pulled artifact counts as pulled at its push time', () => {
    const arts = [a('app', ['old-but-pulled'], 30, 0), a('app', ['new-never-pulled'], 1), a('app', ['pulled-long-ago'], 20, 15), a('app', ['older-never-pulled'], 10)];
    assert.deepEqual(deleted([rule({ kind: 'latest_pulled', count: 2 })], arts), ['older-never-pulled', 'pulled-long-ago']);
  });

  it('pulled within N days never deletes a fresh image nobody pulled yet (harbor#18479)', () => {
    const arts = [a('app', ['fresh'], 1), a('app', ['stale'], 40, 35), a('app', ['old-unpulled'], 40), a('app', ['used'], 40, 2)];
    assert.deepEqual(deleted([rule({ kind: 'pulled_within_days', days: 7 })], arts), ['old-unpulled', 'stale']);
  });

  it('pushed within N days, and always', () => {
    const arts = [a('app', ['new'], 2), a('app', ['old'], 20)];
    assert.deepEqual(deleted([rule({ kind: 'pushed_within_days', days: 7 })], arts), ['old']);
    assert.deepEqual(deleted([rule({ kind: 'always' })], arts), []);
  });

  it('an artifact is kept if any rule keeps it; tags matched by no rule go', () => {
    const arts = [a('app', ['v1.0'], 9), a('app', ['v1.1'], 8), a('app', ['dev-1'], 7), a('app', ['dev-2'], 1), a('app', ['latest'], 3)];
    const rules = [rule({ kind: 'latest_pushed', count: 1 }, { tags: 'v*' }), rule({ kind: 'latest_pushed', count: 1 }, { tags: 'dev-*' })];
    assert.deepEqual(deleted(rules, arts), ['dev-1', 'latest', 'v1.0']);
    // an artifact with several tags is kept when one of them is retained
    assert.deepEqual(deleted([rule({ kind: 'always' }, { tags: 'keep' })], [a('app', ['keep', 'other'], 3), a('app', ['other2'], 3)]), ['other2']);
  });

  it('exclusions, and repositories no rule selects are left alone', () => {
    const arts = [a('team/app', ['a'], 5), a('team/app', ['b'], 1), a('team/tmp', ['c'], 5), a('team/tmp', ['d'], 1), a('other', ['e'], 9)];
    const rules = [rule({ kind: 'latest_pushed', count: 1 }, { repositories: 'team/*', excludeRepositories: 'team/tmp' })];
    assert.deepEqual(deleted(rules, arts), ['a']);
    assert.deepEqual(deleted([rule({ kind: 'latest_pushed', count: 1 }, { excludeTags: 'b' })], [a('app', ['a'], 5), a('app', ['b'], 1), a('app', ['c'], 3)]), ['a', 'b']);
  });

  it('untagged artifacts stay unless a rule includes them', () => {
    const u1 = a('app', [], 10);
    const u2 = a('app', [], 1);
    const arts = [a('app', ['v1'], 2), u1, u2];
    assert.deepEqual(deleted([rule({ kind: 'latest_pushed', count: 1 })], arts), []);
    assert.deepEqual(deleted([rule({ kind: 'latest_pushed', count: 2 }, { untagged: true })], arts), [u1.digest.slice(-3)]);
  });

  it('immutable tags are always kept', () => {
    const arts = [a('app', ['v1'], 9), a('app', ['rel-1'], 8), a('app', ['v3'], 1)];
    assert.deepEqual(deleted([rule({ kind: 'latest_pushed', count: 1 })], arts, ['rel-*']), ['v1']);
  });

  it('platform images of a kept index are kept; those of a deleted index go with it', () => {
    const keptIdx = a('app', ['multi-new'], 1);
    const oldIdx = a('app', ['multi-old'], 9);
    const c1 = a('app', [], 1, null, { parents: [keptIdx.digest] });
    const c2 = a('app', [], 9, null, { parents: [oldIdx.digest] });
    const shared = a('app', [], 9, null, { parents: [oldIdx.digest, keptIdx.digest] });
    const res = decideRetention([rule({ kind: 'latest_pushed', count: 1 })], [keptIdx, oldIdx, c1, c2, shared], { now: NOW, immutableTags: [] });
    const keep = Object.fromEntries(res.map((v) => [v.artifact.digest, v.keep]));
    assert.deepEqual([keep[keptIdx.digest], keep[c1.digest], keep[shared.digest], keep[oldIdx.digest], keep[c2.digest]], [true, true, true, false, false]);
    // platform images never count towards "the newest N" and are not untagged leftovers
    assert.deepEqual(deleted([rule({ kind: 'latest_pushed', count: 1 }, { untagged: true })], [keptIdx, c1]), []);
  });

  it('decides the same for the same input (the dry run is the real run)', () => {
    const arts = Array.from({ length: 40 }, (_, i) => a(`r${i % 3}`, i % 5 ? [`t${i}`] : [], i, i % 4 ? i / 2 : null));
    const rules = [rule({ kind: 'latest_pulled', count: 3 }, { untagged: true }), rule({ kind: 'pushed_within_days', days: 5 }, { tags: 't1*' })];
    const byDigest = (vs: ReturnType<typeof decideRetention>) => Object.fromEntries(vs.map((v) => [v.artifact.digest, [v.keep, v.reason]]));
    const first = byDigest(decideRetention(rules, arts, { now: NOW, immutableTags: ['t3*'] }));
    assert.deepEqual(first, byDigest(decideRetention(rules, [...arts].reverse(), { now: NOW, immutableTags: ['t3*'] })));
    assert.ok(Object.values(first).some(([keep]) => !keep) && Object.values(first).some(([keep]) => keep));
  });

  it('repository globs: * stays in a segment, ** crosses, {a,b} alternatives', () => {
    const cases: [string, string, boolean][] = [
      ['**', 'a/b/c', true],
      ['*', 'a/b', false],
      ['team/*', 'team/app', true],
      ['team/*', 'team/x/app', false],
      ['team/**', 'team/x/app', true],
      ['{app,web}', 'web', true],
      ['{app,web}', 'db', false],
      ['ap?', 'app', true],
      ['a.b', 'axb', false],
    ];
    for (const [g, name, want] of cases) assert.equal(repositoryGlob(g).test(name), want, `${g} ${name}`);
  });

  it('validates rules: counts and days where the kind needs them, no unknown fields', () => {
    const ok = { repositories: '**', tags: '**', untagged: false, retain: { kind: 'latest_pushed', count: 3 } };
    assert.ok(retentionRuleSchema.safeParse(ok).success);
    for (const bad of [
      { ...ok, retain: { kind: 'latest_pushed' } },
      { ...ok, retain: { kind: 'pulled_within_days' } },
      { ...ok, retain: { kind: 'forever' } },
      { ...ok, retain: { kind: 'latest_pushed', count: 0 } },
      { ...ok, tags: 'a b' },
      { ...ok, extra: 1 },
    ])
      assert.equal(retentionRuleSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });
});
