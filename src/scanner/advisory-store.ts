import yauzl from 'yauzl';
import type { DB } from '../db/connect.js';
import { normalizeOsv, osvRecordSchema, type AffectedPackage, type NormalizedAdvisory } from './osv.js';

export interface ImportStats {
  imported: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  invalid: number;
  errors: string[];
}

const emptyStats = (): ImportStats => ({ imported: 0, updated: 0, unchanged: 0, withdrawn: 0, invalid: 0, errors: [] });

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

const list = (s: string): string[] => {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
};

/** The OSV advisory database in SQL: upserts by id and `modified`, withdrawn records removed. */
export class AdvisoryStore {
  constructor(private readonly db: DB) {}

  /** Imports parsed JSON values (records, or arrays of records). */
  async importValues(values: unknown[], stats = emptyStats()): Promise<ImportStats> {
    const batch: NormalizedAdvisory[] = [];
    const flush = async () => {
      if (batch.length) await this.upsert(batch.splice(0), stats);
    };
    for (const v of values) {
      for (const raw of Array.isArray(v) ? v : [v]) {
        const parsed = osvRecordSchema.safeParse(raw);
        if (!parsed.success) {
          stats.invalid++;
          if (stats.errors.length < 20) {
            const id = typeof (raw as { id?: unknown })?.id === 'string' ? String((raw as { id: string }).id).slice(0, 64) : '?';
            stats.errors.push(`${id}: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`.slice(0, 300));
          }
          continue;
        }
        batch.push(normalizeOsv(parsed.data));
        if (batch.length >= 200) await flush();
      }
    }
    await flush();
    if (stats.imported + stats.updated + stats.withdrawn > 0) await this.touch();
    return stats;
  }

  /** Imports every `.json` entry of a zip (as osv.dev publishes per ecosystem), streaming entry by entry. */
  async importZip(buffer: Buffer, limits = { maxEntries: 1_000_000, maxEntryBytes: 16 * 1024 * 1024 }): Promise<ImportStats> {
    const stats = emptyStats();
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.fromBuffer(buffer, { lazyEntries: true, strictFileNames: false, validateEntrySizes: true }, (err, z) => (err ? reject(err) : resolve(z!))));
    const pending: unknown[] = [];
    let entries = 0;
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        entries++;
        if (entries > limits.maxEntries) {
          zip.close();
          reject(new Error(`zip has more than ${limits.maxEntries} entries`));
          return;
        }
        if (!entry.fileName.endsWith('.json') || entry.uncompressedSize > limits.maxEntryBytes) {
          if (entry.fileName.endsWith('.json')) {
            stats.invalid++;
            if (stats.errors.length < 20) stats.errors.push(`${entry.fileName.slice(0, 100)}: larger than ${limits.maxEntryBytes} bytes`);
          }
          zip.readEntry();
          return;
        }
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) {
            stats.invalid++;
            zip.readEntry();
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          stream.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= limits.maxEntryBytes) chunks.push(c);
          });
          stream.on('error', () => {
            stats.invalid++;
            zip.readEntry();
          });
          stream.on('end', () => {
            try {
              pending.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch {
              stats.invalid++;
              if (stats.errors.length < 20) stats.errors.push(`${entry.fileName.slice(0, 100)}: not JSON`);
            }
            const next = () => zip.readEntry();
            if (pending.length >= 500) this.importValues(pending.splice(0), stats).then(next, reject);
            else next();
          });
        });
      });
      zip.readEntry();
    });
    await this.importValues(pending, stats);
    return stats;
  }

  private async upsert(batch: NormalizedAdvisory[], stats: ImportStats): Promise<void> {
    const ids = batch.map((a) => a.id);
    const existing = new Map((await this.db.selectFrom('advisories').select(['id', 'modified']).where('id', 'in', ids).execute()).map((r) => [r.id, Number(r.modified)]));
    await this.db.transaction().execute(async (trx) => {
      for (const a of batch) {
        const had = existing.get(a.id);
        if (a.withdrawn) {
          if (had !== undefined) {
            await trx.deleteFrom('advisories').where('id', '=', a.id).execute();
            existing.delete(a.id);
            stats.withdrawn++;
          }
          continue;
        }
        if (had !== undefined && had >= a.modified) {
          stats.unchanged++;
          continue;
        }
        if (had !== undefined) await trx.deleteFrom('advisories').where('id', '=', a.id).execute();
        await trx
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
            imported_at: Date.now(),
          })
          .execute();
        if (a.packages.length) {
          await trx
            .insertInto('advisory_packages')
            .values(a.packages.map((p) => ({ advisory_id: a.id, ecosystem: p.ecosystem, name: p.name, affected: JSON.stringify(p.affected) })))
            .execute();
        }
        existing.set(a.id, a.modified);
        if (had === undefined) stats.imported++;
        else stats.updated++;
      }
    });
  }

  private async touch(): Promise<void> {
    const now = String(Date.now());
    const res = await this.db.updateTable('vulndb_meta').set({ value: now }).where('name', '=', 'updated_at').executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      try {
        await this.db.insertInto('vulndb_meta').values({ name: 'updated_at', value: now }).execute();
      } catch {
        await this.db.updateTable('vulndb_meta').set({ value: now }).where('name', '=', 'updated_at').execute();
      }
    }
  }

  /** When the database last changed (ms), or null when nothing was ever imported. */
  async updatedAt(): Promise<number | null> {
    const r = await this.db.selectFrom('vulndb_meta').select('value').where('name', '=', 'updated_at').executeTakeFirst();
    return r ? Number(r.value) : null;
  }

  /** Candidate affected-package rows for names in ecosystems. */
  async candidates(ecosystems: string[], names: string[]): Promise<{ advisoryId: string; ecosystem: string; name: string; affected: AffectedPackage }[]> {
    const out: { advisoryId: string; ecosystem: string; name: string; affected: AffectedPackage }[] = [];
    const unique = [...new Set(names)];
    for (let i = 0; i < unique.length; i += 500) {
      const chunk = unique.slice(i, i + 500);
      const rows = await this.db.selectFrom('advisory_packages').select(['advisory_id', 'ecosystem', 'name', 'affected']).where('ecosystem', 'in', ecosystems).where('name', 'in', chunk).execute();
      for (const r of rows) out.push({ advisoryId: r.advisory_id, ecosystem: r.ecosystem, name: r.name, affected: JSON.parse(r.affected) as AffectedPackage });
    }
    return out;
  }

  /** Whether any advisory names a package in one of these ecosystems (an ecosystem without any is no source). */
  async hasAdvisories(ecosystems: string[]): Promise<boolean> {
    if (!ecosystems.length) return false;
    const r = await this.db.selectFrom('advisory_packages').select('advisory_id').where('ecosystem', 'in', ecosystems).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  /** The ecosystems loaded whose name starts with `prefix` (e.g. `Debian:`), at most 200. */
  async ecosystemsWithPrefix(prefix: string): Promise<string[]> {
    // `_` and `%` in a prefix only widen the match (dialects escape differently): the filter below is exact
    const like = `${prefix}%`;
    const rows = await this.db
      .selectFrom('advisory_packages')
      .select('ecosystem')
      .distinct()
      .where((e) => e('ecosystem', 'like', like))
      .limit(200)
      .execute();
    return rows.map((r) => r.ecosystem).filter((e) => e.startsWith(prefix));
  }

  async advisories(ids: string[]): Promise<Map<string, AdvisoryRow>> {
    const out = new Map<string, AdvisoryRow>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await this.db
        .selectFrom('advisories')
        .select(['id', 'severity', 'cvss_score', 'cvss_vector', 'summary', 'aliases', 'upstream', 'refs'])
        .where('id', 'in', unique.slice(i, i + 500))
        .execute();
      for (const r of rows) {
        out.set(r.id, {
          id: r.id,
          severity: r.severity,
          cvssScore: r.cvss_score === null ? null : Number(r.cvss_score),
          cvssVector: r.cvss_vector,
          summary: r.summary,
          aliases: list(r.aliases),
          upstream: list(r.upstream),
          refs: list(r.refs),
        });
      }
    }
    return out;
  }

  /** Advisory counts per ecosystem (the family before `:`), for the status page. */
  async status(): Promise<{ updatedAt: number | null; total: number; ecosystems: { ecosystem: string; advisories: number }[] }> {
    const rows = await this.db
      .selectFrom('advisory_packages')
      .select(['ecosystem', (e) => e.fn.count<number>('advisory_id').distinct().as('n')])
      .groupBy('ecosystem')
      .orderBy('ecosystem')
      .execute();
    const { n } = await this.db.selectFrom('advisories').select((e) => e.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { updatedAt: await this.updatedAt(), total: Number(n), ecosystems: rows.map((r) => ({ ecosystem: r.ecosystem, advisories: Number(r.n) })) };
  }
}
