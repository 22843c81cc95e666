import type { DB } from '../connect.js';
import { isMysqlDb, lockingTransaction } from './scan-totals.js';

/**
 * A manifest push the quota check accepted and Berth has not imported yet. It counts towards the project's usage on
 * every replica until its import (notification or reconciliation) removes it, the registry refuses the PUT, or it
 * expires.
 */
export interface QuotaReservation {
  id: string;
  projectId: number;
  repository: string;
  digest: string;
  /** the manifest's own bytes */
  manifestBytes: number;
  /** bytes the push added beyond the usage and the other live reservations when it was accepted */
  addedBytes: number;
  /** every blob the manifest references → its size in bytes (the registry's, else the declared one) */
  blobs: Map<string, number>;
  /** epoch milliseconds */
  acceptedAt: number;
  expiresAt: number;
}

/**
 * Runs `decide` inside the project's quota lock, in one transaction, after dropping the project's expired
 * reservations: two replicas deciding for one project at once take turns, and each sees what the other committed.
 * MySQL/MariaDB: READ COMMITTED, and the project row `SELECT … FOR UPDATE` (every read after it sees the latest
 * commits). SQLite: its single writer; the first statement writes, so the write lock is taken up front rather than
 * upgraded halfway (which could fail with SQLITE_BUSY). `decide` must use the transaction it gets, never `db`.
 * A deadlock victim is retried. Returns what `decide` returns.
 */
export async function withProjectQuotaLock<T>(db: DB, projectId: number, now: number, decide: (trx: DB) => Promise<T>): Promise<T> {
  return lockingTransaction(db, async (trx) => {
    if (isMysqlDb(trx)) await trx.selectFrom('projects').select('id').where('id', '=', projectId).forUpdate().execute();
    await trx.deleteFrom('quota_reservations').where('project_id', '=', projectId).where('expires_at', '<=', now).execute();
    return decide(trx);
  });
}

/** A reservation's blob map (digest → bytes); an unreadable one is empty, and its `added_bytes` still count. */
function parseBlobs(text: string): Map<string, number> {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return new Map();
    return new Map(Object.entries(v as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number'));
  } catch {
    return new Map();
  }
}

/** The project's reservations that have not expired at `now`. */
export async function listLiveReservations(db: DB, projectId: number, now: number): Promise<QuotaReservation[]> {
  const rows = await db.selectFrom('quota_reservations').selectAll().where('project_id', '=', projectId).where('expires_at', '>', now).execute();
  return rows.map((r) => ({
    id: r.id,
    projectId: Number(r.project_id),
    repository: r.repository,
    digest: r.digest,
    manifestBytes: Number(r.manifest_bytes),
    addedBytes: Number(r.added_bytes),
    blobs: parseBlobs(r.blobs),
    acceptedAt: Number(r.accepted_at),
    expiresAt: Number(r.expires_at),
  }));
}

export async function insertReservation(db: DB, r: QuotaReservation): Promise<void> {
  await db
    .insertInto('quota_reservations')
    .values({
      id: r.id,
      project_id: r.projectId,
      repository: r.repository.slice(0, 255),
      digest: r.digest.slice(0, 100),
      manifest_bytes: r.manifestBytes,
      added_bytes: r.addedBytes,
      blobs: JSON.stringify(Object.fromEntries(r.blobs)),
      accepted_at: r.acceptedAt,
      expires_at: r.expiresAt,
    })
    .execute();
}

/** Removes one reservation (its PUT was refused or failed: the registry stored nothing). */
export async function deleteReservation(db: DB, id: string): Promise<void> {
  await db.deleteFrom('quota_reservations').where('id', '=', id).execute();
}

/** Removes every reservation of a manifest Berth has now imported (the usage counts it from here on). */
export async function deleteReservationsOf(db: DB, repositoryId: number, digest: string): Promise<void> {
  const repo = await db.selectFrom('repositories').select('name').where('id', '=', repositoryId).executeTakeFirst();
  if (repo) await db.deleteFrom('quota_reservations').where('repository', '=', repo.name).where('digest', '=', digest).execute();
}
