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

  it('no route reaches the database handle directly', () => {
    const offenders = all.filter((f) => rel(f).startsWith('src/routes/') && /services\.db\b|\.selectFrom\(|\.insertInto\(|\.updateTable\(|\.deleteFrom\(/.test(fs.readFileSync(f, 'utf8')));
    assert.deepEqual(offenders.map(rel), []);
  });
});
