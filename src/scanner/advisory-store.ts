import fs from 'node:fs';
import yauzl from 'yauzl';
import type { DB } from '../db/connect.js';
import * as repo from '../db/repos/advisories.js';
import { normalizeOsv, osvRecordSchema, type AffectedPackage, type NormalizedAdvisory } from './osv.js';

export type { AdvisoryRow } from '../db/repos/advisories.js';

export interface ImportStats {
  imported: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  invalid: number;
  errors: string[];
}

const emptyStats = (): ImportStats => ({ imported: 0, updated: 0, unchanged: 0, withdrawn: 0, invalid: 0, errors: [] });

/** An import file that is neither a zip nor JSON. */
export class NotJsonError extends Error {}

const ZIP_LIMITS = { maxEntries: 1_000_000, maxEntryBytes: 16 * 1024 * 1024 };

/** The OSV advisory database in SQL: upserts by id and `modified`, withdrawn records removed. */
export class AdvisoryStore {
  constructor(private readonly db: DB) {}

  /** Imports parsed JSON values (records, or arrays of records). */
  async importValues(values: unknown[], stats = emptyStats()): Promise<ImportStats> {
    const batch: NormalizedAdvisory[] = [];
    const flush = async () => {
      if (batch.length) await this.upsert(batch.splice(0), stats);
    };
    try {
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
    } finally {
      // Also when a later batch failed: the batches committed before it changed the database, and a report that read
      // the previous stamp must not pass for one judged against them.
      if (stats.imported + stats.updated + stats.withdrawn > 0) await this.touch();
    }
    return stats;
  }

  /** Imports every `.json` entry of a zip (as osv.dev publishes per ecosystem), streaming entry by entry. */
  async importZip(buffer: Buffer, limits = ZIP_LIMITS): Promise<ImportStats> {
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromBuffer(buffer, { lazyEntries: true, strictFileNames: false, validateEntrySizes: true }, (err, z) => (err ? reject(err) : resolve(z!))),
    );
    return this.importFromZip(zip, limits);
  }

  /**
   * Imports a file on disk: a zip of OSV files (by its magic bytes), else JSON (one record or an array).
   * Throws NotJsonError for a file that is neither; zip errors as importZipFile.
   */
  async importFile(file: string): Promise<ImportStats> {
    const head = Buffer.alloc(2);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, head, 0, 2, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (head[0] === 0x50 && head[1] === 0x4b) return this.importZipFile(file);
    let value: unknown;
    try {
      value = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      throw new NotJsonError('the file is neither a zip nor JSON');
    }
    return this.importValues([value]);
  }

  /** Like importZip, from a zip file on disk (an upload received to a temporary file), read entry by entry. */
  async importZipFile(file: string, limits = ZIP_LIMITS): Promise<ImportStats> {
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(file, { lazyEntries: true, autoClose: true, strictFileNames: false, validateEntrySizes: true }, (err, z) => (err ? reject(err) : resolve(z!))),
    );
    return this.importFromZip(zip, limits);
  }

  private async importFromZip(zip: yauzl.ZipFile, limits: typeof ZIP_LIMITS): Promise<ImportStats> {
    const stats = emptyStats();
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
    const existing = await repo.findAdvisoryModified(
      this.db,
      batch.map((a) => a.id),
    );
    await this.db.transaction().execute(async (trx) => {
      for (const a of batch) {
        const had = existing.get(a.id);
        if (a.withdrawn) {
          if (had !== undefined) {
            await repo.deleteAdvisory(trx, a.id);
            existing.delete(a.id);
            stats.withdrawn++;
          }
          continue;
        }
        if (had !== undefined && had >= a.modified) {
          stats.unchanged++;
          continue;
        }
        if (had !== undefined) await repo.deleteAdvisory(trx, a.id);
        await repo.insertAdvisory(trx, a, Date.now());
        existing.set(a.id, a.modified);
        if (had === undefined) stats.imported++;
        else stats.updated++;
      }
    });
  }

  private touch(): Promise<void> {
    return repo.touchAdvisoryDb(this.db, Date.now());
  }

  /** When the database last changed (ms), or null when nothing was ever imported. */
  updatedAt(): Promise<number | null> {
    return repo.findAdvisoryDbUpdatedAt(this.db);
  }

  /** Candidate affected-package rows for names in ecosystems. */
  async candidates(ecosystems: string[], names: string[]): Promise<{ advisoryId: string; ecosystem: string; name: string; affected: AffectedPackage }[]> {
    const out: { advisoryId: string; ecosystem: string; name: string; affected: AffectedPackage }[] = [];
    const unique = [...new Set(names)];
    for (let i = 0; i < unique.length; i += 500) out.push(...(await repo.findAdvisoryCandidates(this.db, ecosystems, unique.slice(i, i + 500))));
    return out;
  }

  /** Whether any advisory names a package in one of these ecosystems (an ecosystem without any is no source). */
  hasAdvisories(ecosystems: string[]): Promise<boolean> {
    return repo.hasAdvisoriesIn(this.db, ecosystems);
  }

  /** The ecosystems loaded whose name starts with `prefix` (e.g. `Debian:`), at most 200. */
  ecosystemsWithPrefix(prefix: string): Promise<string[]> {
    return repo.listEcosystemsWithPrefix(this.db, prefix, 200);
  }

  async advisories(ids: string[]): Promise<Map<string, repo.AdvisoryRow>> {
    const out = new Map<string, repo.AdvisoryRow>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 500) for (const r of await repo.findAdvisories(this.db, unique.slice(i, i + 500))) out.set(r.id, r);
    return out;
  }

  /** Advisory counts per ecosystem (the family before `:`), for the status page. */
  async status(): Promise<{ updatedAt: number | null; total: number; ecosystems: { ecosystem: string; advisories: number }[] }> {
    const counts = await repo.advisoryCounts(this.db);
    return { updatedAt: await this.updatedAt(), ...counts };
  }
}
