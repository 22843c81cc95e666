import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inVersionRange, parseVersionRange } from '../../src/services/security-hub-service.js';

describe('security hub version ranges', () => {
  it('parses comparisons joined by commas, a bare version meaning =', () => {
    assert.deepEqual(parseVersionRange('>=1.2, <1.3'), [
      { op: '>=', version: '1.2' },
      { op: '<', version: '1.3' },
    ]);
    assert.deepEqual(parseVersionRange('1.0-1'), [{ op: '=', version: '1.0-1' }]);
    assert.deepEqual(parseVersionRange('==2'), [{ op: '=', version: '2' }]);
    for (const bad of ['', ',', '>>1', '<', '1 2', '>=1;drop', 'x'.repeat(400)]) assert.throws(() => parseVersionRange(bad), bad);
  });

  const cases: [type: string, version: string, range: string, want: boolean][] = [
    ['deb', '1.2-3+b1', '>1.2-3', true],
    ['deb', '1.0~rc1-1', '<1.0-1', true],
    ['deb', '1:2.0-1', '>=3.0', true],
    ['apk', '1.2.4-r0', '<1.2.4-r1', true],
    ['npm', '4.17.20', '>=4.0.0,<4.17.21', true],
    ['npm', '4.17.21', '>=4.0.0,<4.17.21', false],
    ['pypi', '2.19.0', '<2.20', true],
    ['pypi', '2.20.0rc1', '<2.20', true],
    ['maven', '2.9.10.6', '<2.9.10.7', true],
    ['maven', '31.1-jre', '<32.0.0-android', true],
    ['maven', '2.15.0', '<2.15.0-rc2', false],
    ['cargo', '1.6.0', '>=1.0.0,<1.6.1', true],
    ['gem', '4.0.2', '>=4.0.1,<4.0.5', true],
    ['gem', '4.0.5.rc1', '<4.0.5', true],
    ['other', '1.0', '=1.0', true],
    ['other', '1.0', '<2.0', false],
  ];
  for (const [type, version, range, want] of cases) {
    it(`${type} ${version} in ${range} → ${want}`, () => assert.equal(inVersionRange(type, version, parseVersionRange(range)), want));
  }
});
