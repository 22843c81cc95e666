import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CATALOGUES, createI18n } from '../../src/i18n/index.js';
import { COMPLETENESS } from '../../src/db/repos/scan-reports.js';
import { renderJobLog } from '../../src/i18n/job-log.js';

const walk = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));

describe('job log messages', () => {
  const i18n = createI18n();
  const en = i18n.getFixedT('en');
  const zh = i18n.getFixedT('zh-CN');

  const cases: [string, Parameters<typeof renderJobLog>[1], string, string][] = [
    ['a keyed line with parameters', { key: 'scan_all_finished', params: { count: 12 }, message: 'all 12 scans finished' }, 'all 12 scans finished', '全部 12 个扫描已完成'],
    [
      'a parameter that looks like markup stays text',
      { key: 'retention_delete_failed', params: { repository: 'p/<b>', error: '{{count}}' }, message: 'x' },
      'could not delete in p/<b>: {{count}}',
      '无法在 p/<b> 中删除：{{count}}',
    ],
    [
      'a scan line names its completeness in the page language (it read a raw code, "complete", on Chinese pages)',
      { key: 'scan_done', params: { packages: 3, findings: 0, critical: 0, high: 0, medium: 0, low: 0, unknown: 0, completeness: 'complete' }, message: 'x' },
      'packages: 3, findings: 0 (0 critical, 0 high, 0 medium, 0 low, 0 unknown); complete',
      '3 个软件包，0 个发现（严重 0，高危 0，中危 0，低危 0，未知 0）；完整',
    ],
    [
      'an incomplete scan line',
      { key: 'scan_done_gaps', params: { packages: 1, findings: 1, critical: 1, high: 0, medium: 0, low: 0, unknown: 0, completeness: 'incomplete', gaps: 2 }, message: 'x' },
      'packages: 1, findings: 1 (1 critical, 0 high, 0 medium, 0 low, 0 unknown); incomplete (gaps: 2)',
      '1 个软件包，1 个发现（严重 1，高危 0，中危 0，低危 0，未知 0）；不完整（2 处缺口）',
    ],
    ['a row from before keys', { key: null, params: null, message: 'an old line' }, 'an old line', 'an old line'],
    ['a key this release does not know', { key: 'from_the_future', params: { n: 1 }, message: 'stored English' }, 'stored English', 'stored English'],
    ['a key naming a section, not a message', { key: '', params: null, message: 'kept' }, 'kept', 'kept'],
  ];
  for (const [name, line, wantEn, wantZh] of cases) {
    it(name, () => {
      assert.equal(renderJobLog(en, line), wantEn);
      assert.equal(renderJobLog(zh, line), wantZh);
    });
  }

  it('every scan completeness has its word in each catalogue', () => {
    for (const c of COMPLETENESS) for (const lng of ['en', 'zh-CN'] as const) assert.equal(typeof (CATALOGUES[lng].scan_completeness as Record<string, string>)[c], 'string', `${lng} ${c}`);
  });

  it('every joblog key is written by some job (no dead keys), and every job type writes through keys', () => {
    const src = walk('src')
      .filter((f) => !f.startsWith(path.join('src', 'i18n')))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    // A plural family (`x_one`, `x_other`) is written by its base key, as i18next looks it up.
    const bases = new Set(Object.keys(CATALOGUES.en.joblog as Record<string, string>).map((k) => k.replace(/_(one|other)$/, '')));
    const unused = [...bases].filter((k) => !src.includes(`'${k}'`));
    assert.deepEqual(unused, []);
    // Free text cannot reach ctx.log (its first argument is a key type); a template literal there would be a cast.
    for (const f of walk('src/jobs/types')) assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /ctx\.log\(\s*`/, f);
  });
});
