import type { DB } from '../connect.js';
import type { AffectedPackage, NormalizedAdvisory } from '../../scanner/osv.js';
import { stringList } from './json.js';
import { updateOrInsert } from './sql.js';

/** An advisory as the matcher and the reports read it. */
export interface AdvisoryRow {
  id: string;
  severity: string;
  cvssScore: number | null;
  cvssVector: string | null;
  summary: string | null;
  aliases: string[];
  upstream: string[];
  refs: string[];
}

/** One affected-package row: which advisory names this package in this ecosystem, and the ranges. */
export interface AdvisoryCandidate {
  advisoryId: string;
  ecosystem: string;
  name: string;
  affected: AffectedPackage;
}

/** The `modified` time of each of these advisories that is stored. */
export async function findAdvisoryModified(db: DB, ids: string[]): Promise<Map<string, number>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('advisories').select(['id', 'modified']).where('id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, Number(r.modified)]));
}

/** Removes an advisory (its affected packages go with it by foreign key). */
export async function deleteAdvisory(db: DB, id: string): Promise<void> {
  await db.deleteFrom('advisories').where('id', '=', id).execute();
}

/** Inserts an advisory and its affected packages. */
export async function insertAdvisory(db: DB, a: NormalizedAdvisory, importedAt: number): Promise<void> {
  await db
    .insertInto('advisories')
    .values({
      id: a.id,
      modified: a.modified,
      published: a.published,
      summary: a.summary,
      details: a.details,
      aliases: JSON.stringify(a.aliases),
      upstream: JSON.stringify(a.upstream),
      severity: a.severity,
      cvss_score: a.cvssScore,
      cvss_vector: a.cvssVector,
      refs: JSON.stringify(a.refs),
      imported_at: importedAt,
    })
    .execute();
  if (a.packages.length) {
    await db
      .insertInto('advisory_packages')
      .values(a.packages.map((p) => ({ advisory_id: a.id, ecosystem: p.ecosystem, name: p.name, affected: JSON.stringify(p.affected) })))
      .execute();
  }
}

/** Records when the advisory database last changed. */
export async function touchAdvisoryDb(db: DB, at: number): Promise<void> {
  const now = String(at);
  await updateOrInsert(
    () => db.updateTable('vulndb_meta').set({ value: now }).where('name', '=', 'updated_at').executeTakeFirst(),
    () => db.insertInto('vulndb_meta').values({ name: 'updated_at', value: now }).execute(),
  );
}

/** When the advisory database last changed (ms), or null when nothing was ever imported. */
export async function findAdvisoryDbUpdatedAt(db: DB): Promise<number | null> {
  const r = await db.selectFrom('vulndb_meta').select('value').where('name', '=', 'updated_at').executeTakeFirst();
  return r ? Number(r.value) : null;
}

/** Affected-package rows for these names in these ecosystems (callers chunk the names). */
export async function findAdvisoryCandidates(db: DB, ecosystems: string[], names: string[]): Promise<AdvisoryCandidate[]> {
  if (!ecosystems.length || !names.length) return [];
  const rows = await db.selectFrom('advisory_packages').select(['advisory_id', 'ecosystem', 'name', 'affected']).where('ecosystem', 'in', ecosystems).where('name', 'in', names).execute();
  return rows.map((r) => ({ advisoryId: r.advisory_id, ecosystem: r.ecosystem, name: r.name, affected: JSON.parse(r.affected) as AffectedPackage }));
}

/** Whether any advisory names a package in one of these ecosystems. */
export async function hasAdvisoriesIn(db: DB, ecosystems: string[]): Promise<boolean> {
  if (!ecosystems.length) return false;
  const r = await db.selectFrom('advisory_packages').select('advisory_id').where('ecosystem', 'in', ecosystems).limit(1).executeTakeFirst();
  return r !== undefined;
}

/** Distinct ecosystems whose name starts with `prefix`, at most `limit`. */
export async function listEcosystemsWithPrefix(db: DB, prefix: string, limit: number): Promise<string[]> {
  // `_` and `%` in a prefix only widen the match (dialects escape differently): the filter below is exact
  const rows = await db
    .selectFrom('advisory_packages')
    .select('ecosystem')
    .distinct()
    .where((e) => e('ecosystem', 'like', `${prefix}%`))
    .limit(limit)
    .execute();
  return rows.map((r) => r.ecosystem).filter((e) => e.startsWith(prefix));
}

/** These advisories by id (callers chunk the ids). */
export async function findAdvisories(db: DB, ids: string[]): Promise<AdvisoryRow[]> {
  if (!ids.length) return [];
  const rows = await db.selectFrom('advisories').select(['id', 'severity', 'cvss_score', 'cvss_vector', 'summary', 'aliases', 'upstream', 'refs']).where('id', 'in', ids).execute();
  return rows.map((r) => ({
    id: r.id,
    severity: r.severity,
    cvssScore: r.cvss_score === null ? null : Number(r.cvss_score),
    cvssVector: r.cvss_vector,
    summary: r.summary,
    aliases: stringList(r.aliases),
    upstream: stringList(r.upstream),
    refs: stringList(r.refs),
  }));
}

/** Advisory counts per ecosystem, and the total. */
export async function advisoryCounts(db: DB): Promise<{ total: number; ecosystems: { ecosystem: string; advisories: number }[] }> {
  const rows = await db
    .selectFrom('advisory_packages')
    .select(['ecosystem', (e) => e.fn.count<number>('advisory_id').distinct().as('n')])
    .groupBy('ecosystem')
    .orderBy('ecosystem')
    .execute();
  const { n } = await db
    .selectFrom('advisories')
    .select((e) => e.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { total: Number(n), ecosystems: rows.map((r) => ({ ecosystem: r.ecosystem, advisories: Number(r.n) })) };
}
