import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CATALOGUES, createI18n, LOCALES, pickLocale } from '../../src/i18n/index.js';
import { JOB_STATES } from '../../src/jobs/states.js';
import { SEVERITIES } from '../../src/scanner/severity.js';

/** Every leaf key of a nested catalogue, dotted. */
function keys(o: Record<string, unknown>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(o)) {
    const full = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object') for (const [kk, vv] of keys(v as Record<string, unknown>, full)) out.set(kk, vv);
    else out.set(full, v);
  }
  return out;
}

const walk = (dir: string, ext: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name), ext) : e.name.endsWith(ext) ? [path.join(dir, e.name)] : []));

/** Keys the UI asks for: `t('k')` in templates, `tr(c)('k')` and message-key labels in UI routes. */
function usedKeys(): { literal: Map<string, string>; prefixes: Map<string, string> } {
  const literal = new Map<string, string>();
  const prefixes = new Map<string, string>();
  for (const f of [...walk('src/views', '.eta'), ...walk('src/routes/ui', '.ts')]) {
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(/\bt(?:r\(c\))?\(\s*'([^']+)'\s*([,)+])/g)) (m[2] === '+' ? prefixes : literal).set(m[1]!, f);
    for (const m of src.matchAll(/label: '([a-z_]+\.[a-z_.]+)'/g)) literal.set(m[1]!, f);
  }
  return { literal, prefixes };
}

describe('i18n catalogues', () => {
  const en = keys(CATALOGUES.en);

  it('every language has exactly the keys English has, none empty, with the same placeholders', () => {
    for (const l of LOCALES) {
      const cat = keys(CATALOGUES[l]);
      assert.deepEqual([...en.keys()].filter((k) => !cat.has(k)), [], `missing from ${l}`);
      assert.deepEqual([...cat.keys()].filter((k) => !en.has(k)), [], `unknown in ${l}`);
      for (const [k, v] of cat) {
        assert.ok(typeof v === 'string' && v.trim() !== '', `${l}: ${k} is empty`);
        const ph = (s: unknown) => [...String(s).matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
        assert.deepEqual(ph(v), ph(en.get(k)), `${l}: ${k} placeholders`);
      }
    }
  });

  it('every key a template or UI route uses exists', () => {
    const { literal, prefixes } = usedKeys();
    assert.ok(literal.size > 150, `found ${literal.size} keys: the scan works`);
    for (const [k, f] of literal) assert.ok(en.has(k), `${f} uses unknown key ${k}`);
    for (const [p, f] of prefixes) assert.ok([...en.keys()].some((k) => k.startsWith(p)), `${f} uses unknown key family ${p}`);
    // The families templates build from data: each member must exist.
    for (const s of SEVERITIES) assert.ok(en.has(`severity.${s}`), s);
    for (const s of JOB_STATES) assert.ok(en.has(`jobs.state_${s}`), s);
    for (const s of ['severity', 'package', 'id']) assert.ok(en.has(`findings.sort_${s}`), s);
  });

  it('translates with placeholders through i18next, falling back to nothing missing', () => {
    const i18n = createI18n();
    assert.equal(i18n.getFixedT('zh-CN')('pager.status', { page: 2, pages: 5, total: 99 }), '第 2 / 5 页 · 共 99 项');
    assert.equal(i18n.getFixedT('en')('pager.status', { page: 2, pages: 5, total: 99 }), 'Page 2 of 5 · 99 in all');
  });
});

describe('pickLocale', () => {
  const cases: [string | null, string | undefined, string][] = [
    [null, undefined, 'en'],
    [null, 'zh-CN,zh;q=0.9,en;q=0.8', 'zh-CN'],
    [null, 'zh', 'zh-CN'],
    [null, 'zh-Hans-CN', 'zh-CN'],
    [null, 'en-US,en;q=0.9,zh-CN;q=0.8', 'en'],
    [null, 'fr-FR,zh;q=0.5', 'zh-CN'],
    [null, 'zh;q=0.2,en;q=0.9', 'en'],
    [null, 'zh;q=0', 'en'],
    [null, 'de', 'en'],
    ['zh-CN', 'en', 'zh-CN'],
    ['en', 'zh-CN', 'en'],
    ['klingon', 'zh-CN', 'zh-CN'],
    [null, 'x'.repeat(5000), 'en'],
  ];
  for (const [chosen, header, want] of cases) it(`${chosen} + ${header?.slice(0, 40)} → ${want}`, () => assert.equal(pickLocale(chosen, header), want));
});
