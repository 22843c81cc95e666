/**
 * Lists stay flat as the registry grows. Two dedicated MariaDB databases: one seeded in bulk with the issue's figures
 * (1M artifacts, 5M tags, plus 20k projects, 20k users, 1M audit rows, 100k jobs) and one near-empty with the same
 * shape. For every list, REST and UI, p95 over repeated requests through the real app of
 *   - the first page, and
 *   - a deep page reached by following `next_cursor` (the 300th page of 50 where the list has that many)
 * on the big database ÷ the first page of the same list on the near-empty one. The issue's bar is ≤ 3.
 *
 * The project page and the dashboard carry severity charts: every artifact has a finished report, so a chart that
 * summed reports would read 1M of them.
 *
 * Sizes: BENCH_LIST_ARTIFACTS (default 1000000), BENCH_LIST_TAGS_PER_ARTIFACT (5), BENCH_LIST_SCALE (1: the other
 * tables' sizes above). BENCH_LIST_ONLY (comma-separated substrings of the case names, e.g. `bench,dashboard`)
 * measures only those lists. The big database is kept between runs (`berth_bench_lists_big`, re-seeded only when its
 * sizes differ) since seeding takes minutes on 2 cores; BENCH_LIST_RESEED=1 forces a fresh one.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN, Browser, startTestApp, type TestApp } from '../test/helpers/app.js';
import { MYSQL_ADMIN_URL, type TestDatabase } from '../test/helpers/db.js';
import { projectScanTotals } from '../migrations/2026-11-30-100-project-scan-totals.js';
import { repositoryArtifactCount } from '../migrations/2026-11-30-230-repository-artifact-count.js';

const ARTIFACTS = Number(process.env.BENCH_LIST_ARTIFACTS ?? 1_000_000);
const TAGS_PER = Number(process.env.BENCH_LIST_TAGS_PER_ARTIFACT ?? 5);
const SCALE = Number(process.env.BENCH_LIST_SCALE ?? 1);
const RUNS = Number(process.env.BENCH_LIST_RUNS ?? 60);
const DEEP = 300;
const LIMIT = 50;

interface Sizes {
  repos: number;
  /** artifacts in the one repository the artifact and tag lists read (the issue's 20k-artifact repository) */
  target: number;
  artifacts: number;
  tagsPer: number;
  projects: number;
  users: number;
  audit: number;
  jobs: number;
  members: number;
}

const BIG: Sizes = {
  repos: 1000,
  target: Math.min(20_000, ARTIFACTS),
  artifacts: ARTIFACTS,
  tagsPer: TAGS_PER,
  projects: 20_000 * SCALE,
  users: 20_000 * SCALE,
  audit: 1_000_000 * SCALE,
  jobs: 100_000 * SCALE,
  members: 2_000 * SCALE,
};
const SMALL: Sizes = { repos: 3, target: 20, artifacts: 40, tagsPer: 2, projects: 5, users: 5, audit: 20, jobs: 5, members: 5 };

const q = (s: string) => s.replace(/[^a-z0-9_]/gi, '');

async function database(name: string, fresh: boolean): Promise<{ db: TestDatabase; exists: boolean }> {
  const conn = await createConnection(MYSQL_ADMIN_URL);
  if (fresh) await conn.query(`drop database if exists \`${q(name)}\``);
  const [rows] = (await conn.query('select schema_name from information_schema.schemata where schema_name = ?', [name])) as unknown as [unknown[]];
  const exists = rows.length > 0;
  if (!exists) await conn.query(`create database \`${q(name)}\` character set utf8mb4 collate utf8mb4_general_ci`);
  await conn.end();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-lists-'));
  return {
    exists,
    db: {
      config: { dialect: 'mysql', url: `${MYSQL_ADMIN_URL}/${name}` },
      dataDir,
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    },
  };
}

/** Copies a template row `count` times with some columns replaced by SQL expressions over `seq` (0-based). */
async function cloneRows(conn: Connection, table: string, templateWhere: string, count: number, overrides: Record<string, string>) {
  if (count <= 0) return;
  const [cols] = (await conn.query("select column_name as c from information_schema.columns where table_schema = database() and table_name = ? and extra not like '%auto_increment%'", [
    table,
  ])) as unknown as [{ c: string }[]];
  const names = cols.map((r) => r.c);
  const select = names.map((n) => overrides[n] ?? `t.\`${n}\``).join(', ');
  // Chunks of 500k keep each statement's undo log small.
  for (let start = 0; start < count; start += 500_000) {
    const end = Math.min(count, start + 500_000) - 1;
    await conn.query(
      `insert into \`${table}\` (${names.map((n) => `\`${n}\``).join(', ')}) select ${select} from (select * from \`${table}\` where ${templateWhere} limit 1) t join seq_${start}_to_${end} s`,
    );
  }
}

/** Seeds through the API where a template row is needed, then in bulk with INSERT … SELECT over MariaDB's sequence engine. */
async function seed(t: TestApp, s: Sizes) {
  const api = (p: string, json: unknown) => t.req(p, { method: 'POST', auth: ADMIN, json });
  await api('/api/v1/projects', { name: 'bench', public: false });
  await api('/api/v1/users', { username: 'tmpl-user', password: 'tmpl-user-pw-123' });
  await api('/api/v1/projects/bench/members', { username: 'tmpl-user', role: 'guest' });
  await t.services.jobs.enqueue('reconcile', {}).catch(() => undefined);
  const conn = await createConnection(t.database.config.url);
  try {
    await conn.query('set session foreign_key_checks = 0, unique_checks = 0');
    const now = Date.now();
    const [[proj]] = (await conn.query("select id from projects where name = 'bench'")) as unknown as [{ id: number }[]];
    const pid = proj!.id;
    await conn.query(
      `insert into repositories (project_id, name, pull_count, created_at, updated_at) select ${pid}, concat('bench/r', lpad(seq, 4, '0')), 0, ${now}, ${now} from seq_0_to_${s.repos - 1}`,
    );
    const [[rr]] = (await conn.query("select min(id) lo, max(id) hi, count(*) n from repositories where name like 'bench/r%'")) as unknown as [{ lo: number; hi: number; n: number }[]];
    if (rr!.hi - rr!.lo + 1 !== Number(rr!.n)) throw new Error('repository ids are not consecutive');
    const repoExpr = `case when seq < ${s.target} then ${rr!.lo} else ${rr!.lo + 1} + (seq % ${s.repos - 1}) end`;
    for (let start = 0; start < s.artifacts; start += 250_000) {
      const end = Math.min(s.artifacts, start + 250_000) - 1;
      await conn.query(
        `insert into artifacts (repository_id, digest, media_type, manifest_size, size, pushed_at, pull_count, type)
         select ${repoExpr}, concat('sha256:', lpad(hex(seq), 64, '0')), 'application/vnd.oci.image.manifest.v1+json', 1000, 1000000, ${now - s.artifacts * 1000} + seq * 1000, 0, 'image'
         from seq_${start}_to_${end}`,
      );
      process.stderr.write(`  artifacts ${end + 1}/${s.artifacts}\n`);
    }
    const [[ar]] = (await conn.query('select min(id) lo, max(id) hi from artifacts')) as unknown as [{ lo: number; hi: number }[]];
    // A finished report for every artifact, so the severity charts (project page, dashboard) sum something real.
    for (let lo = ar!.lo; lo <= ar!.hi; lo += 200_000) {
      await conn.query(
        `insert into scan_reports (artifact_id, status, job_id, scanner, db_updated_at, started_at, finished_at, os, critical, high, medium, low, unknown, fixable, findings, packages, problems, error, completeness, gaps)
         select a.id, 'success', null, 'bench', null, ${now}, ${now}, 'debian 12', a.id % 3, a.id % 5, a.id % 7, a.id % 11, a.id % 2, 0, '[]', '[]', '[]', null, 'complete', '[]'
         from artifacts a where a.id between ${lo} and ${lo + 199_999}`,
      );
    }
    process.stderr.write('  scan reports\n');
    for (let lo = ar!.lo; lo <= ar!.hi; lo += 200_000) {
      await conn.query(
        `insert into tags (repository_id, artifact_id, name, pushed_at) select a.repository_id, a.id, concat('v', a.id, '-', k.seq), a.pushed_at from artifacts a join seq_0_to_${s.tagsPer - 1} k where a.id between ${lo} and ${lo + 199_999}`,
      );
      process.stderr.write(`  tags for artifacts ${Math.min(ar!.hi, lo + 199_999) - ar!.lo + 1}/${ar!.hi - ar!.lo + 1}\n`);
    }
    await cloneRows(conn, 'projects', "name = 'bench'", s.projects, { name: "concat('p', lpad(s.seq, 7, '0'))", public: 's.seq % 2' });
    await cloneRows(conn, 'users', "username = 'tmpl-user'", s.users, { username: "concat('u', lpad(s.seq, 7, '0'))", email: 'null' });
    await conn.query(
      `insert into project_members (project_id, user_id, role_id, created_at) select ${pid}, u.id, m.role_id, ${now} from users u join (select role_id from project_members limit 1) m where u.username like 'u%' order by u.id limit ${s.members}`,
    );
    process.stderr.write('  projects, users, members\n');
    await cloneRows(conn, 'audit_logs', '1 = 1', s.audit, { created_at: `${now - s.audit} + s.seq`, resource: "concat('bench/r', s.seq % 1000)" });
    await cloneRows(conn, 'jobs', '1 = 1', s.jobs, { unique_key: 'null', status: "'success'" });
    process.stderr.write('  audit, jobs\n');
    // The rows above bypassed the repositories that keep the per-project severity counters and each repository's
    // artifact count: rebuild them as the migrations do from whatever rows exist.
    await projectScanTotals.up(t.db);
    await repositoryArtifactCount.up(t.db);
    await conn.query('analyze table artifacts, tags, repositories, projects, users, audit_logs, jobs, project_members, scan_reports, project_scan_totals');
  } finally {
    await conn.end();
  }
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;

async function once(get: () => Promise<Response>): Promise<number> {
  const t0 = performance.now();
  const res = await get();
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return performance.now() - t0;
}

interface ListCase {
  name: string;
  /** a REST path (Basic auth) or a UI path (session cookie) */
  path: string;
  ui?: boolean;
}

const CASES: ListCase[] = [
  { name: 'GET /projects', path: '/api/v1/projects' },
  { name: 'GET /users', path: '/api/v1/users' },
  { name: 'GET …/repositories', path: '/api/v1/projects/bench/repositories' },
  { name: 'GET …/artifacts (20k repo)', path: '/api/v1/projects/bench/repositories/r0000/artifacts' },
  { name: 'GET …/tags (100k-tag repo)', path: '/api/v1/projects/bench/repositories/r0000/tags' },
  { name: 'GET …/members', path: '/api/v1/projects/bench/members' },
  { name: 'GET /audit-logs', path: '/api/v1/audit-logs' },
  { name: 'GET /jobs', path: '/api/v1/jobs' },
  { name: 'UI /projects', path: '/projects', ui: true },
  { name: 'UI /projects/bench', path: '/projects/bench', ui: true },
  { name: 'UI / (dashboard)', path: '/', ui: true },
  { name: 'UI repository page (20k)', path: '/projects/bench/repositories/r0000', ui: true },
  { name: 'UI /users', path: '/users', ui: true },
  { name: 'UI /audit-logs', path: '/audit-logs', ui: true },
  { name: 'UI /jobs', path: '/jobs', ui: true },
];

const withLimit = (p: string) => `${p}${p.includes('?') ? '&' : '?'}limit=${LIMIT}`;

/** The URL of the deepest page up to DEEP, by following cursors (next_cursor in JSON, rel="next" in HTML). */
async function deepUrl(get: (p: string) => Promise<Response>, c: ListCase): Promise<{ url: string; depth: number }> {
  let url = withLimit(c.path);
  let depth = 1;
  while (depth < DEEP) {
    const res = await get(url);
    const next = c.ui ? (/<a href="([^"]+)" rel="next">/.exec(await res.text())?.[1]?.replace(/&amp;/g, '&') ?? null) : (((await res.json()) as { next_cursor: string | null }).next_cursor ?? null);
    if (!next) break;
    url = c.ui ? next : `${withLimit(c.path)}&cursor=${encodeURIComponent(next)}`;
    depth++;
  }
  return { url, depth };
}

/**
 * The three requests of a list (near-empty first page, big first page, big deep page) are timed in turn, round after
 * round, so load from anything else on the machine falls on all three alike and the ratios stay fair.
 */
async function measure(small: TestApp, big: TestApp, c: ListCase): Promise<{ small: number; first: number; deep: number; depth: number }> {
  const getter = async (t: TestApp) => {
    const browser = new Browser(t);
    if (c.ui) await browser.login(ADMIN[0], ADMIN[1]);
    return (p: string) => (c.ui ? browser.fetch(p) : t.req(p, { auth: ADMIN }));
  };
  const gs = await getter(small);
  const gb = await getter(big);
  const { url, depth } = await deepUrl(gb, c);
  const reqs = [() => gs(withLimit(c.path)), () => gb(withLimit(c.path)), () => gb(url)];
  for (let i = 0; i < 5; i++) for (const r of reqs) await once(r); // warm-up
  const times: number[][] = [[], [], []];
  for (let i = 0; i < RUNS; i++) for (let k = 0; k < reqs.length; k++) times[k]!.push(await once(reqs[k]!));
  const [s, f, d] = times.map(p95) as [number, number, number];
  process.stderr.write(`  ${c.name}: near-empty ${s.toFixed(1)} ms, big first ${f.toFixed(1)} ms, big page ${depth} ${d.toFixed(1)} ms\n`);
  return { small: s, first: f, deep: d, depth };
}

export async function benchLists(): Promise<{ name: string; ratio: number; detail: string }[]> {
  // the seed's version is part of the tag: a database seeded by an older bench (no scan reports) is seeded again
  const tag = `${BIG.artifacts}-${BIG.tagsPer}-${SCALE}-reports`;
  const big = await database('berth_bench_lists_big', process.env.BENCH_LIST_RESEED === '1');
  const small = await database('berth_bench_lists_small', true);
  const results: { name: string; ratio: number; detail: string }[] = [];
  let tb: TestApp | undefined;
  let ts: TestApp | undefined;
  try {
    tb = await startTestApp('mysql', {}, big.db);
    const conn = await createConnection(big.db.config.url);
    await conn.query('create table if not exists bench_seeded (sizes varchar(64) not null)');
    const [done] = (await conn.query('select sizes from bench_seeded')) as unknown as [{ sizes: string }[]];
    await conn.end();
    if (done[0]?.sizes !== tag) {
      if (big.exists) {
        await tb.close();
        const again = await database('berth_bench_lists_big', true);
        tb = await startTestApp('mysql', {}, again.db);
      }
      const t0 = Date.now();
      process.stderr.write(`seeding the big database (${BIG.artifacts} artifacts, ${BIG.artifacts * BIG.tagsPer} tags)…\n`);
      await seed(tb, BIG);
      const c2 = await createConnection(big.db.config.url);
      await c2.query('create table if not exists bench_seeded (sizes varchar(64) not null)');
      await c2.query('insert into bench_seeded values (?)', [tag]);
      await c2.end();
      process.stderr.write(`seeded in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    }
    ts = await startTestApp('mysql', {}, small.db);
    await seed(ts, SMALL);
    const only = process.env.BENCH_LIST_ONLY?.split(',').map((x) => x.trim());
    for (const c of CASES.filter((x) => !only || only.some((o) => x.name.includes(o)))) {
      const m = await measure(ts, tb, c);
      results.push({ name: `list ${c.name} first page`, ratio: m.first / m.small, detail: `p95 ${m.first.toFixed(1)} ms big ÷ ${m.small.toFixed(1)} ms near-empty` });
      results.push({ name: `list ${c.name} page ${m.depth}`, ratio: m.deep / m.small, detail: `p95 ${m.deep.toFixed(1)} ms big ÷ ${m.small.toFixed(1)} ms near-empty first page` });
    }
    // Deep page numbers are refused with a pointer to cursors, not served slowly.
    const refused = await tb.req(`/api/v1/projects/bench/repositories/r0000/artifacts?limit=${LIMIT}&page=${DEEP}`, { auth: ADMIN });
    process.stderr.write(`?limit=${LIMIT}&page=${DEEP}: ${refused.status} ${await refused.text()}\n`);
  } finally {
    await ts?.close({ drop: false });
    await tb?.close({ drop: false });
    await small.db.drop();
    await big.db.drop();
    const conn = await createConnection(MYSQL_ADMIN_URL);
    await conn.query('drop database if exists berth_bench_lists_small');
    await conn.end();
  }
  return results;
}
