import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CATALOGUES, createI18n, LOCALES, pickLocale } from '../../src/i18n/index.js';
import { renderJobProgress } from '../../src/i18n/job-log.js';
import { ARTIFACT_TYPES } from '../../src/registry/artifact-type.js';
import { JOB_STATES } from '../../src/jobs/states.js';
import { SEVERITIES } from '../../src/scanner/severity.js';
import { ROLES } from '../../src/auth/rbac.js';
import { GATE_REASONS } from '../../src/services/policy-service.js';
import { AUDIT_ACTIONS, AUDIT_RESOURCE_TYPES } from '../../src/services/audit-service.js';
import { PULL_REFUSED } from '../../src/registry/v2-pipeline.js';
import { GARBAGE_COLLECTION } from '../../src/jobs/types/gc.js';
import { RECONCILE } from '../../src/jobs/types/reconcile.js';
import { SCAN_ALL, SCAN_IMAGE } from '../../src/jobs/types/scan.js';
import { VULNDB_UPDATE } from '../../src/jobs/types/vulndb-update.js';
import { TAG_RETENTION } from '../../src/services/retention-service.js';
import { WEBHOOK_DELIVERY } from '../../src/services/webhook-service.js';

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
    // Keys chosen by a condition (`tr(c)(ok ? 'a.b' : 'a.c')`): any quoted `namespace.key` of a catalogue namespace.
    for (const m of src.matchAll(/'([a-z_]+)\.([a-z_.]*)'/g)) {
      if (!NAMESPACES.has(m[1]!)) continue;
      const k = `${m[1]}.${m[2]}`;
      (k.endsWith('_') || k.endsWith('.') ? prefixes : literal).set(k, f);
    }
  }
  return { literal, prefixes };
}

const NAMESPACES = new Set(Object.keys(CATALOGUES.en));

/** i18next's plural suffixes (`key_one`, `key_other`, …): a family is one message in the forms its language needs. */
const PLURAL = /_(zero|one|two|few|many|other)$/;

/** A catalogue's messages by key, each plural family under its base key with its forms. */
function families(cat: Map<string, unknown>): Map<string, Map<string, unknown>> {
  const out = new Map<string, Map<string, unknown>>();
  for (const [k, v] of cat) {
    const m = PLURAL.exec(k);
    const base = m && cat.has(`${k.slice(0, m.index)}_other`) ? k.slice(0, m.index) : k;
    const forms = out.get(base) ?? new Map<string, unknown>();
    forms.set(base === k ? '' : m![1]!, v);
    out.set(base, forms);
  }
  return out;
}

describe('i18n catalogues', () => {
  const en = keys(CATALOGUES.en);

  it('every language has exactly the messages English has, each plural in the forms its language needs, none empty, with the same placeholders', () => {
    const enFamilies = families(en);
    for (const l of LOCALES) {
      const cat = keys(CATALOGUES[l]);
      const fam = families(cat);
      assert.deepEqual(
        [...enFamilies.keys()].filter((k) => !fam.has(k)),
        [],
        `missing from ${l}`,
      );
      assert.deepEqual(
        [...fam.keys()].filter((k) => !enFamilies.has(k)),
        [],
        `unknown in ${l}`,
      );
      // English has one/other, Chinese only other: a plural message has exactly its language's categories.
      const categories = new Intl.PluralRules(l).resolvedOptions().pluralCategories.sort();
      const ph = (s: unknown) => [...String(s).matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
      for (const [k, forms] of fam) {
        const plural = (enFamilies.get(k)?.get('') ?? null) === null;
        assert.deepEqual([...forms.keys()].sort(), plural ? categories : [''], `${l}: ${k} forms`);
        const reference = enFamilies.get(k)?.get(plural ? 'other' : '');
        for (const [form, v] of forms) {
          assert.ok(typeof v === 'string' && v.trim() !== '', `${l}: ${k} ${form} is empty`);
          assert.deepEqual(ph(v), ph(reference), `${l}: ${k} ${form} placeholders`);
        }
      }
    }
  });

  it('counts use plural forms: no "1 pulls" in English, a word per count', () => {
    const enFamilies = families(en);
    // A message that puts a number before a noun (`{{count}} pulls`, `<strong>{{total}}</strong> advisories`,
    // `artifact(s)`) must be a plural family; the job log keeps its stored English sentences (several counts each).
    const counting =
      /\{\{\w+\}\}(?:<\/strong>)? (?:more )?(?:[a-z]+ )?(?:pulls|platforms|artifacts|images|repositories|referrers|things|parts|vulnerabilities|signatures|advisories|findings|projects|users|jobs|tags)\b|\w\(s\)/;
    const loose = [...en].filter(([k, v]) => !k.startsWith('joblog.') && typeof v === 'string' && counting.test(v) && !PLURAL.test(k)).map(([k, v]) => `${k}: ${v}`);
    assert.deepEqual(loose, [], 'give these _one and _other forms and pass {{count}}');
    // Job log lines count several things at once: each reads as a labelled value, or the line is a plural family.
    assert.deepEqual(
      [...en].filter(([k, v]) => k.startsWith('joblog.') && /\(s\)/.test(String(v))).map(([k]) => k),
      [],
    );
    // The heuristic finds what it is for.
    assert.ok(counting.test('{{count}} pulls') && counting.test('deleted {{count}} artifact(s)') && counting.test('<strong>{{total}}</strong> advisories'));
    const i18n = createI18n();
    const en1 = i18n.getFixedT('en');
    const zh = i18n.getFixedT('zh-CN');
    assert.equal(en1('repo.pulls', { count: 1 }), '1 pull');
    assert.equal(en1('repo.pulls', { count: 2 }), '2 pulls');
    assert.equal(zh('repo.pulls', { count: 1 }), '1 次拉取');
    assert.equal(en1('dashboard.repositories', { count: 1, artifacts: en1('dashboard.artifacts', { count: 1 }) }), 'repository, 1 artifact');
    for (const [k, forms] of enFamilies) {
      if (!forms.has('one')) continue;
      const one = en1(k, { count: 1, scanned: 0, deleted: 0, artifacts: 'x', name: 'p', ref: 'r', what: 'w', operator: 'o', when: 'now', bytes: '0 B' });
      assert.doesNotMatch(one, /\b1(?:<\/strong>)? (?:more )?[a-z]+s\b/, `${k} with count 1: ${one}`);
    }
  });

  it('every key a template or UI route uses exists', () => {
    const { literal, prefixes } = usedKeys();
    assert.ok(literal.size > 150, `found ${literal.size} keys: the scan works`);
    for (const [k, f] of literal) assert.ok(en.has(k) || en.has(`${k}_other`), `${f} uses unknown key ${k}`);
    for (const [p, f] of prefixes)
      assert.ok(
        [...en.keys()].some((k) => k.startsWith(p)),
        `${f} uses unknown key family ${p}`,
      );
    // The families templates build from data: each member must exist.
    for (const s of SEVERITIES) assert.ok(en.has(`severity.${s}`), s);
    for (const s of JOB_STATES) assert.ok(en.has(`jobs.state_${s}`), s);
    for (const s of ['severity', 'package', 'id']) assert.ok(en.has(`findings.sort_${s}`), s);
    for (const r of ROLES) assert.ok(en.has(`roles.${r}`), r);
    for (const k of ['user', 'group']) assert.ok(en.has(`members.kind_${k}`), k);
    for (const k of ['settings', 'environment']) assert.ok(en.has(`auth_settings.secret_from_${k}`), k);
    for (const k of GATE_REASONS) assert.ok(en.has(`gate.reason_${k}`) || en.has(`gate.reason_${k}_other`), k);
    // The audit and access logs and the job center name what they list in the page's language.
    assert.ok((AUDIT_ACTIONS as readonly string[]).includes(PULL_REFUSED));
    for (const a of AUDIT_ACTIONS) assert.ok(en.has(`audit.action_${a}`), a);
    for (const r of AUDIT_RESOURCE_TYPES) assert.ok(en.has(`audit.type_${r}`), r);
    for (const j of [GARBAGE_COLLECTION, RECONCILE, SCAN_IMAGE, SCAN_ALL, VULNDB_UPDATE, TAG_RETENTION, WEBHOOK_DELIVERY]) assert.ok(en.has(`jobs.type_${j.replace(/-/g, '_')}`), j);
  });

  it('every error key the code gives (AppError ui, problem()) exists as errors.<key>', () => {
    const found = new Map<string, string>();
    for (const f of walk('src', '.ts')) {
      const src = fs.readFileSync(f, 'utf8');
      // `{ key: 'x' }` handed to an AppError or one of its helpers, on the line that throws or makes it.
      for (const line of src.split('\n')) {
        if (!/\b(AppError|badRequest|notFound|denied|conflict|unauthorized)\(/.test(line)) continue;
        for (const m of line.matchAll(/\{ key: '([a-z_]+)'/g)) found.set(m[1]!, f);
      }
      for (const m of src.matchAll(/\b(?:problem|complaint)\((?:'[^']*'|`[^`]*`), '([a-z_]+)'/g)) found.set(m[1]!, f);
    }
    assert.ok(found.size > 40, `found ${found.size} error keys: the scan works`);
    for (const [k, f] of found) assert.ok(en.has(`errors.${k}`) || en.has(`errors.${k}_other`), `${f} gives unknown error key ${k}`);
  });

  it("gives different things on one page different words (the artifact page: its digest, a finding's summary)", () => {
    for (const l of LOCALES) {
      const cat = keys(CATALOGUES[l]);
      assert.notEqual(cat.get('artifact.digest'), cat.get('findings.col_summary'), l);
    }
  });

  it('translates with placeholders through i18next, falling back to nothing missing', () => {
    const i18n = createI18n();
    assert.equal(i18n.getFixedT('zh-CN')('pager.status', { page: 2, pages: 5, total: 99 }), '第 2 / 5 页 · 共 99 项');
    assert.equal(i18n.getFixedT('en')('pager.status', { page: 2, pages: 5, total: 99 }), 'Page 2 of 5 · 99 in all');
  });
});

/**
 * Text a template prints without `t(…)`: what is left of each eta template once the eta tags, `<script>`, `<style>`,
 * comments and `<pre>`/`<code>` blocks (commands and identifiers, the same in every language) are taken out, read as
 * text nodes and as the attributes people read (placeholder, title, aria-label, alt, hx-confirm, a button's value).
 * A heuristic: it finds literal sentences and words, not text a template builds from data.
 */
function untranslatedText(src: string): string[] {
  const s = src
    .replace(/<%[\s\S]*?%>/g, '\u0000')
    .replace(/<(script|style|pre|code)\b[\s\S]*?<\/\1>/g, '\u0000')
    .replace(/<!--[\s\S]*?-->/g, '');
  const found: string[] = [];
  for (const tag of s.matchAll(/<[a-zA-Z][^>]*>/g)) {
    for (const a of tag[0].matchAll(/\s(placeholder|title|aria-label|alt|hx-confirm|label)="([^"]*)"/g)) {
      const v = a[2]!.replace(/\u0000/g, '').trim();
      // A placeholder that is one token is an example value (a URL, a CVE id, a package name), not prose.
      if (a[1] === 'placeholder' && !/\s/.test(v)) continue;
      if (/[A-Za-z]{2,}/.test(v)) found.push(`${a[1]}="${v}"`);
    }
    // An input button shows its value (a <button>'s value is only sent, never shown).
    if (/^<input\b/.test(tag[0]) && /type="(submit|button|reset)"/.test(tag[0])) {
      const v = /\svalue="([^"]*)"/.exec(tag[0])?.[1]?.replace(/\u0000/g, '') ?? '';
      if (/[A-Za-z]{2,}/.test(v)) found.push(`value="${v}"`);
    }
  }
  for (const node of s.replace(/<[^>]*>/g, '\u0000').split('\u0000')) {
    const text = node.trim();
    if (/[A-Za-z]{2,}/.test(text) && !LITERAL_OK.has(text)) found.push(text);
  }
  return found;
}

/** Words every language prints as they are: the product, formats, the time zone. */
const LITERAL_OK = new Set(['Berth', '· Berth', '⚓ Berth', 'CSV', 'SBOM (CycloneDX)', 'UTC (', 'UTC']);

describe('templates print no untranslated text', () => {
  it('finds literal text (the heuristic works)', () => {
    assert.deepEqual(untranslatedText('<h1>Sign-in settings</h1>'), ['Sign-in settings']);
    assert.deepEqual(untranslatedText(`<button hx-confirm="Remove <%= m.label %>?">x</button>`), ['hx-confirm="Remove ?"']);
    assert.deepEqual(untranslatedText('<label>Mode <select name="mode"></select></label>'), ['Mode']);
    assert.deepEqual(untranslatedText('<input placeholder="the name of the team">'), ['placeholder="the name of the team"']);
    assert.deepEqual(untranslatedText('<input type="submit" value="Save">'), ['value="Save"']);
    assert.deepEqual(untranslatedText('<h1><%= t(\'x.y\') %></h1><pre>docker login <%= it.host %></pre><input placeholder="CVE-2024-1234"> <code>ldap://</code>'), []);
  });

  it('in every template under src/views', () => {
    const files = walk('src/views', '.eta');
    assert.deepEqual(untranslatedText('<td>image</td><span class="num">OSV</span>'), ['image', 'OSV']);
    assert.ok(files.length > 40, `found ${files.length} templates`);
    const problems = files.flatMap((f) => untranslatedText(fs.readFileSync(f, 'utf8')).map((x) => `${f}: ${x}`));
    assert.deepEqual(problems, [], 'put these through t() with keys in every catalogue');
  });
});

/**
 * Codes a template prints for people to read as they are stored (`artifact_pushed`, `scan-image`, `image`): as an
 * element's text or a tooltip. They belong in `data-*` attributes; people read them through `t('…_' + code)`.
 */
function rawCodes(src: string): string[] {
  // An element marked translate="no" holds data in every language (a package ecosystem: npm, deb).
  return [...src.matchAll(/(title="|aria-label="|(?<!translate="no")>)<%= ([\w.]+\.(?:type|action|resourceType|status|kind|role|state|trigger)) %>(?=["<])/g)].map((m) => `${m[1]}<%= ${m[2]} %>`);
}

describe('templates print no raw codes', () => {
  it('finds a code shown as text or as a tooltip (the heuristic works)', () => {
    assert.deepEqual(rawCodes('<span class="badge"><%= a.type %></span><td data-action="<%= e.action %>" title="<%= e.action %>">'), ['><%= a.type %>', 'title="<%= e.action %>']);
    assert.deepEqual(rawCodes(`<td data-type="<%= j.type %>"><%= t('jobs.type_' + j.type) %></td><span translate="no"><%= f.type %></span>`), []);
  });

  it('in every template under src/views', () => {
    const problems = walk('src/views', '.eta').flatMap((f) => rawCodes(fs.readFileSync(f, 'utf8')).map((x) => `${f}: ${x}`));
    assert.deepEqual(problems, [], 'print these through t() (a `data-*` attribute may keep the code)');
  });

  it('every artifact type and job progress text has its words', () => {
    const en = keys(CATALOGUES.en);
    for (const ty of ARTIFACT_TYPES) assert.ok(en.has(`artifact.type_${ty}`), ty);
    const i18n = createI18n();
    const zh = i18n.getFixedT('zh-CN');
    assert.equal(renderJobProgress(zh, { progressKey: 'done', progressParams: {}, progressText: 'done' }), '完成');
    assert.equal(renderJobProgress(zh, { progressKey: 'layer', progressParams: { done: 2, total: 5 }, progressText: 'layer 2 of 5' }), '第 2 / 5 层');
    // A row from before keys, or with a key this release does not know, shows its stored text rather than a key.
    assert.equal(renderJobProgress(zh, { progressKey: null, progressParams: null, progressText: 'done' }), 'done');
    assert.equal(renderJobProgress(zh, { progressKey: 'from_the_future', progressParams: {}, progressText: 'later' }), 'later');
  });
});

/** String literals UI routes hand to pages as words people read (titles, headings, questions, flash texts, errors). */
function untranslatedRouteStrings(src: string): string[] {
  const found: string[] = [];
  for (const m of src.matchAll(/\b(title|heading|question|confirmLabel|label|text|error):\s*(['`])((?:(?!\2).)*)\2/g)) {
    const v = m[3]!;
    // Message keys are fine; so is text built only from data (`${x}` with no words of its own).
    if (/^[a-z_]+\.[a-z_.]+$/.test(v)) continue;
    if (/[A-Za-z]{2,}/.test(v.replace(/\$\{[^}]*\}/g, ''))) found.push(`${m[1]}: ${v}`);
  }
  return found;
}

describe('UI routes hand pages translated words', () => {
  it('finds a literal message (the heuristic works)', () => {
    assert.deepEqual(untranslatedRouteStrings("redirectWith(c, '/x', { kind: 'ok', text: 'Settings saved.' })"), ['text: Settings saved.']);
    // Route source as text: `$` + `{` spelled apart, so these are not template strings by mistake.
    const $ = '$';
    assert.deepEqual(untranslatedRouteStrings(`page(c, p, { title: \`Delete ${$}{name}?\` })`), [`title: Delete ${$}{name}?`]);
    assert.deepEqual(untranslatedRouteStrings(`page(c, p, { title: tr(c)('x.y'), label: 'nav.users', heading: \`${$}{repo}@${$}{digest}\` })`), []);
  });

  it('in every module under src/routes/ui', () => {
    const problems = walk('src/routes/ui', '.ts').flatMap((f) => untranslatedRouteStrings(fs.readFileSync(f, 'utf8')).map((x) => `${f}: ${x}`));
    assert.deepEqual(problems, [], 'put these through tr(c)() with keys in every catalogue');
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
