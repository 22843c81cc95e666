import type { DB } from '../connect.js';
import { updateOrInsert } from './sql.js';

/** Records one replica's registry writes in flight (insert or update). */
export async function putReplicaWrites(db: DB, replicaId: string, inflight: number, lastEndedAt: number, now: number): Promise<void> {
  await updateOrInsert(
    () => db.updateTable('registry_writes').set({ inflight, last_ended_at: lastEndedAt, heartbeat_at: now }).where('replica_id', '=', replicaId).executeTakeFirst(),
    () => db.insertInto('registry_writes').values({ replica_id: replicaId, inflight, last_ended_at: lastEndedAt, heartbeat_at: now }).execute(),
  );
}

export async function deleteReplicaWrites(db: DB, replicaId: string): Promise<void> {
  await db.deleteFrom('registry_writes').where('replica_id', '=', replicaId).execute();
}

/** Writes in flight on the other replicas that are alive (heartbeat since `aliveSince`), and their latest end. */
export async function otherReplicasWrites(db: DB, replicaId: string, aliveSince: number): Promise<{ inflight: number; lastEndedAt: number; replicas: number }> {
  const rows = await db.selectFrom('registry_writes').select(['inflight', 'last_ended_at']).where('replica_id', '!=', replicaId).where('heartbeat_at', '>=', aliveSince).execute();
  return { inflight: rows.reduce((n, r) => n + Number(r.inflight), 0), lastEndedAt: rows.reduce((n, r) => Math.max(n, Number(r.last_ended_at)), 0), replicas: rows.length };
}
