import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

/**
 * The dependency direction of docs STYLE.md, checked on the import statements of every source file:
 * routes → services → db repos / registry / scanner; jobs call services; nothing imports routes but the app.
 */
const root = path.resolve(import.meta.dirname, '../..');
const src = path.join(root, 'src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Every relative import of a file, resolved to a path under the repository root. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) {
    out.push(path.relative(root, path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
  }
  return out;
}

/** A query written out: a Kysely builder call, a raw `sql` template or helper, or an import of Kysely itself. */
const QUERY = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom)\(|\bsql(<[^>]*>)?`|\bsql\.(raw|ref|id|table|lit|join|val)\(|import\s[^;]*\bfrom\s+'kysely'/;

const rel = (f: string) => path.relative(root, f);
const all = files(src);

const violations = (from: (f: string) => boolean, to: (target: string) => boolean) =>
  all
    .filter((f) => from(rel(f)))
    .flatMap((f) =>
      importsOf(f)
        .filter(to)
        .map((t) => `${rel(f)} → ${t}`),
    );

/**
 * The import cycles among src/ files: each strongly connected component of the import graph with more than one file
 * (or a file importing itself), as sorted file lists. Type-only imports count too: a type cycle ties modules together
 * just the same (the old `RegistryHandle` made services → context → services), and none is needed.
 */
function importCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  // Tarjan's algorithm, iterative so a deep import chain cannot overflow the stack.
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { v: string; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const top = work[work.length - 1]!;
      const edges = (graph.get(top.v) ?? []).filter((w) => graph.has(w));
      if (top.i < edges.length) {
        const w = edges[top.i++]!;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) low.set(work[work.length - 1]!.v, Math.min(low.get(work[work.length - 1]!.v)!, low.get(top.v)!));
      if (low.get(top.v) === index.get(top.v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== top.v);
        if (scc.length > 1 || (graph.get(top.v) ?? []).includes(top.v)) out.push(scc.sort());
      }
    }
  }
  return out;
}

/**
 * A request body read past a schema: an operation's unparsed JSON, hono's raw JSON or form, or a form field picked by
 * hand. Allowed only in the readers themselves: `jsonBody` (under every operation's `body()` schema), the CSRF check
 * (reads `_csrf` alone) and `parseForm` (under every form's schema).
 */
const RAW_BODY = /\bv\.json\(\)|\.req\.(json|parseBody|formData|text|arrayBuffer|blob)\(|\bformString\(/;
const BODY_READERS = ['src/routes/http.ts', 'src/routes/middleware.ts', 'src/routes/ui/forms.ts'];
const rawBodyReads = (files: string[], read = (f: string) => fs.readFileSync(f, 'utf8')) =>
  files
    .filter((f) => rel(f).startsWith('src/routes/') && !BODY_READERS.includes(rel(f)))
    .flatMap((f) =>
      read(f)
        .split('\n')
        .flatMap((line, i) => (RAW_BODY.test(line) ? [`${rel(f)}:${i + 1}: ${line.trim().slice(0, 100)}`] : [])),
    );

describe('architecture: dependency direction', () => {
  it('has source files to check (the walker finds them)', () => {
    assert.ok(all.length > 50);
    assert.ok(importsOf(path.join(src, 'app.ts')).some((t) => t.startsWith('src/routes/')));
  });

  it('routes never import db repos or the database driver', () => {
    assert.deepEqual(
      violations(
        (f) => f.startsWith('src/routes/'),
        (t) => t.startsWith('src/db/repos/') || t === 'src/db/connect.ts',
      ),
      [],
    );
  });

  it('only the app and the server import routes', () => {
    assert.deepEqual(
      violations(
        (f) => !f.startsWith('src/routes/') && f !== 'src/app.ts' && f !== 'src/server.ts',
        (t) => t.startsWith('src/routes/'),
      ),
      [],
    );
  });

  it('services, jobs, the registry and the scanner never import routes or views', () => {
    const lower = (f: string) => ['src/services/', 'src/jobs/', 'src/registry/', 'src/scanner/', 'src/db/', 'src/auth/'].some((p) => f.startsWith(p));
    assert.deepEqual(
      violations(lower, (t) => t.startsWith('src/routes/') || t.startsWith('src/views')),
      [],
    );
  });

  it('the job runner knows no service (services enqueue through the JobQueue interface)', () => {
    assert.deepEqual(
      violations(
        (f) => f === 'src/jobs/runner.ts' || f === 'src/jobs/queue.ts' || f === 'src/jobs/schedules.ts',
        (t) => t.startsWith('src/services/'),
      ),
      [],
    );
  });

  it('db repos import nothing above them (the job states are plain data)', () => {
    const above = (t: string) => t !== 'src/jobs/states.ts' && ['src/services/', 'src/jobs/', 'src/routes/', 'src/registry/proxy'].some((p) => t.startsWith(p));
    assert.deepEqual(
      violations((f) => f.startsWith('src/db/'), above),
      [],
    );
  });

  it('no SQL outside src/db: every query is a repo function (query builder, raw sql, kysely imports)', () => {
    const offenders = all
      .filter((f) => !rel(f).startsWith('src/db/'))
      .flatMap((f) =>
        fs
          .readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (QUERY.test(line) ? [`${rel(f)}:${i + 1}: ${line.trim().slice(0, 80)}`] : [])),
      );
    assert.deepEqual(offenders, []);
  });

  it('the SQL check sees a query (it is not vacuous)', () => {
    const lines = (f: string) => fs.readFileSync(path.join(src, f), 'utf8').split('\n');
    assert.ok(lines('db/repos/users.ts').some((l) => QUERY.test(l)));
    assert.ok(lines('db/connect.ts').some((l) => QUERY.test(l)));
  });

  it('no import cycle among src/ files (type-only imports included)', () => {
    const graph = new Map(all.map((f) => [rel(f), importsOf(f)]));
    assert.deepEqual(importCycles(graph), []);
  });

  it('the cycle check finds cycles (it is not vacuous)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', ['e']],
      ['e', ['d']],
      ['f', ['f']],
      ['g', ['a']],
    ]);
    assert.deepEqual(
      importCycles(graph).sort((x, y) => x[0]!.localeCompare(y[0]!)),
      [['a', 'b', 'c'], ['d', 'e'], ['f']],
    );
    // the real graph has edges the check walks: a type-only import is one of them
    assert.ok(importsOf(path.join(src, 'app.ts')).includes('src/context.ts'));
  });

  it('Services exposes no database handle: only the composition root holds it', () => {
    const context = fs.readFileSync(path.join(src, 'context.ts'), 'utf8');
    const services = context.slice(context.indexOf('export interface Services'), context.indexOf('export interface AppEnv'));
    assert.ok(services.includes('config: Config;'));
    assert.doesNotMatch(services, /^\s*(db|dialect)\??:/m);
  });

  it('the CLI queues no job and imports no advisory itself: it asks the services every other way in uses (they check and audit)', () => {
    const cli = fs.readFileSync(path.join(src, 'cli.ts'), 'utf8');
    assert.ok(/\bs\.maintenance\./.test(cli), 'the check reads the CLI');
    assert.ok(!/\.enqueue\(/.test(cli), 'src/cli.ts queues a job itself');
    assert.ok(!/\.advisories\.import/.test(cli), 'src/cli.ts imports advisories past the service that audits');
  });

  it('every request body a route reads goes through a schema: REST through its operation, UI forms through parseForm', () => {
    assert.deepEqual(rawBodyReads(all), []);
  });

  it('the body check sees a raw read (it is not vacuous)', () => {
    const probe = path.join(src, 'routes/ui/probe.ts');
    const lines = ['const b = await v.json();', 'const f = await c.req.parseBody();', 'const n = formString(form.name, 64);', 'const j = await c.req.json();'];
    assert.equal(lines.filter((l) => RAW_BODY.test(l)).length, lines.length);
    assert.equal(rawBodyReads([probe], () => lines.join('\n')).length, lines.length);
    assert.deepEqual(
      rawBodyReads([path.join(src, 'routes/ui/forms.ts')], () => lines.join('\n')),
      [],
      'the one form reader is allowed',
    );
  });

  it('no route reaches the database handle directly', () => {
    const offenders = all.filter((f) => rel(f).startsWith('src/routes/') && /services\.db\b|\.selectFrom\(|\.insertInto\(|\.updateTable\(|\.deleteFrom\(/.test(fs.readFileSync(f, 'utf8')));
    assert.deepEqual(offenders.map(rel), []);
  });
});

/** Every source file and template under src/, with its lines. */
const sources = [...all, ...filesWith(path.join(src, 'views'), '.eta')].map((f) => ({ file: rel(f), lines: fs.readFileSync(f, 'utf8').split('\n') }));

function filesWith(dir: string, ext: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesWith(path.join(dir, e.name), ext) : e.name.endsWith(ext) ? [path.join(dir, e.name)] : []));
}

/** The lines outside `home` where `fact` matches, as `file:line: text`. */
const declaredOutside = (home: readonly string[], fact: RegExp) =>
  sources.filter((s) => !home.includes(s.file)).flatMap((s) => s.lines.flatMap((line, i) => (fact.test(line) ? [`${s.file}:${i + 1}: ${line.trim().slice(0, 100)}`] : [])));

/** An array literal (on one line) naming at least `n` of `words`, quoted: a list of a closed vocabulary written out. */
const listOf =
  (words: readonly string[], n = words.length) =>
  (line: string) =>
    [...line.matchAll(/\[([^[\]]*)\]/g)].some((m) => words.filter((w) => new RegExp(`['"\`]${w}['"\`]`).test(m[1]!)).length >= n);
const asRegExp = (test: (line: string) => boolean) => ({ test }) as RegExp;

const SEVERITY_WORDS = ['critical', 'high', 'medium', 'low', 'unknown'];
const JOB_STATE_WORDS = ['pending', 'scheduled', 'running', 'success', 'error', 'stopped'];
const MANIFEST_MEDIA_TYPES = /application\/vnd\.(oci\.image\.(index|manifest)\.v1\+json|docker\.distribution\.manifest\.(list\.)?v2\+json)/;

/**
 * Each fact of Berth's vocabulary has one home; everything else imports it. A second copy drifts (the system CVE
 * allowlist once checked advisory ids with a grammar of its own, refusing ids the project allowlist took). Each check
 * names the home, the pattern of a re-declaration, and is shown to see the fact in its home (not vacuous).
 */
const FACTS: { fact: string; home: string[]; pattern: RegExp }[] = [
  { fact: 'the sha256 digest grammar', home: ['src/registry/reference.ts'], pattern: /\[(a-f0-9|0-9a-f)\]\{64\}/ },
  { fact: 'the repository name and path component grammar', home: ['src/registry/reference.ts'], pattern: /\(\?:\[\._\]\|__\||\[\._-\]\[a-z0-9\]\+\)/ },
  { fact: 'the tag grammar', home: ['src/registry/reference.ts'], pattern: /\[A-Za-z0-9_\]\[A-Za-z0-9_\.-\]\{0,127\}/ },
  { fact: 'the advisory and CVE id grammars', home: ['src/registry/reference.ts'], pattern: /\[A-Za-z0-9\]\[A-Za-z0-9\._:|CVE-\\d\{4\}/ },
  { fact: 'the severities', home: ['src/scanner/severity.ts'], pattern: asRegExp(listOf(SEVERITY_WORDS, 4)) },
  { fact: 'the severity ranks', home: ['src/scanner/severity.ts'], pattern: /critical: 4/ },
  { fact: 'the job states', home: ['src/jobs/states.ts'], pattern: asRegExp((l) => listOf(['pending', 'scheduled', 'stopped'], 2)(l) || listOf(['success', 'error', 'stopped'])(l)) },
  { fact: 'the manifest media types', home: ['src/registry/constants.ts'], pattern: MANIFEST_MEDIA_TYPES },
  { fact: 'the image config media types', home: ['src/registry/constants.ts'], pattern: /\[\s*'application\/vnd\.oci\.image\.config\.v1\+json'/ },
  { fact: 'the sign-in modes', home: ['src/auth/provider-grammar.ts'], pattern: asRegExp(listOf(['db', 'ldap', 'oidc'])) },
  { fact: 'the LDAP and OIDC setting grammars', home: ['src/auth/provider-grammar.ts'], pattern: /ldaps\?:|must be a claim name|must be an LDAP filter|must be an attribute name/ },
  {
    fact: 'the LDAP search scopes and member attributes',
    home: ['src/auth/provider-grammar.ts'],
    pattern: asRegExp((l) => listOf(['sub', 'one'])(l) || listOf(['member', 'uniqueMember', 'memberUid', 'memberOf'], 2)(l)),
  },
  { fact: 'the repository actions', home: ['src/auth/scopes.ts'], pattern: asRegExp(listOf(['pull', 'push', 'delete'])) },
  { fact: "the pull gate's unscanned policies", home: ['src/scanner/severity.ts'], pattern: asRegExp(listOf(['block', 'allow'])) },
  { fact: 'the finding sorts', home: ['src/scanner/findings.ts'], pattern: asRegExp(listOf(['severity', 'package', 'id'])) },
  { fact: 'the retention triggers', home: ['src/jobs/payloads.ts'], pattern: asRegExp(listOf(['manual', 'schedule'])) },
  { fact: 'the retention outcomes', home: ['src/db/repos/retention.ts'], pattern: asRegExp(listOf(['deleted', 'would_delete', 'failed'], 2)) },
  { fact: 'the scan completeness values', home: ['src/db/repos/scan-reports.ts'], pattern: asRegExp(listOf(['complete', 'incomplete', 'not_applicable'])) },
  { fact: 'the project roles', home: ['src/auth/rbac.ts'], pattern: asRegExp(listOf(['admin', 'developer', 'guest'], 2)) },
  { fact: "the registry's storage layout", home: ['src/registry/storage.ts'], pattern: /['"`/]_manifests\b|docker\/registry\/v2|,\s*'data'\)/ },
  { fact: 'the token access entry type', home: ['src/auth/scopes.ts'], pattern: /\binterface Access\b/ },
];

describe('architecture: each fact defined once', () => {
  for (const { fact, home, pattern } of FACTS) {
    it(`${fact}: only in ${home.join(', ')}`, () => {
      assert.deepEqual(declaredOutside(home, pattern), []);
    });
    it(`${fact}: the check sees the fact in its home (it is not vacuous)`, () => {
      assert.ok(
        sources.filter((s) => home.includes(s.file)).some((s) => s.lines.some((l) => pattern.test(l))),
        `${home.join(', ')} no longer holds ${fact}`,
      );
    });
  }

  it('the list check finds a vocabulary written out, in any order, and not a lone word', () => {
    const severities = listOf(SEVERITY_WORDS, 4);
    assert.ok(severities("const cols = ['status', 'critical', 'high', 'medium', 'low', 'unknown'] as const;"));
    assert.ok(severities("for (const sv of ['low', 'medium', 'high', 'critical']) {"));
    assert.ok(!severities("if (s === 'critical') return ['critical'];"));
    assert.ok(listOf(JOB_STATE_WORDS, 2)(".where('status', 'in', ['pending', 'scheduled', 'running'])"));
  });
});
