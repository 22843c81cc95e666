import { sql } from 'kysely';
import type { DB } from '../connect.js';
import { isUniqueViolation } from '../../errors.js';

/** A received registry event waiting to be applied. */
export interface InboxEntry {
  id: number;
  /** the event as stored (JSON) */
  payload: string;
  attempts: number;
}

/** Stores an event; false when one with this event id is stored already (the registry delivers at least once). */
export async function insertInboxEvent(db: DB, e: { eventId: string; payload: string; receivedAt: number }): Promise<boolean> {
  try {
    await db.insertInto('notification_inbox').values({ event_id: e.eventId, received_at: e.receivedAt, payload: e.payload, applied_at: null, lease_until: null, error: null }).execute();
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/**
 * Stores a batch of events in one transaction (one commit for an envelope, not one per event); a duplicate event id
 * fails only its own statement on both dialects. Returns how many were stored and how many were known already.
 */
export async function insertInboxEvents(db: DB, events: { eventId: string; payload: string; receivedAt: number }[]): Promise<{ stored: number; duplicates: number }> {
  if (events.length <= 1) {
    const stored = events.length === 1 && (await insertInboxEvent(db, events[0]!)) ? 1 : 0;
    return { stored, duplicates: events.length - stored };
  }
  return db.transaction().execute(async (trx) => {
    let stored = 0;
    for (const e of events) if (await insertInboxEvent(trx, e)) stored++;
    return { stored, duplicates: events.length - stored };
  });
}

/** The oldest events not applied and not leased, in arrival order. */
export async function listClaimableInboxEvents(db: DB, now: number, limit: number): Promise<InboxEntry[]> {
  const rows = await db
    .selectFrom('notification_inbox')
    .select(['id', 'payload', 'attempts'])
    .where('applied_at', 'is', null)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: Number(r.id), payload: r.payload, attempts: Number(r.attempts) }));
}

/** Leases one event until `leaseUntil` if it is still unapplied and unleased (another replica may drain too). */
export async function claimInboxEvent(db: DB, id: number, now: number, leaseUntil: number): Promise<boolean> {
  const res = await db
    .updateTable('notification_inbox')
    .set((eb) => ({ lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
    .where('id', '=', id)
    .where('applied_at', 'is', null)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Releases an event to be tried again, noting why it failed. */
export async function releaseInboxEvent(db: DB, id: number, error: string): Promise<void> {
  await db.updateTable('notification_inbox').set({ lease_until: null, error }).where('id', '=', id).execute();
}

/** Marks events applied (`error`: given up on, with the reason). */
export async function markInboxApplied(db: DB, ids: number[], at: number, error: string | null = null): Promise<void> {
  if (!ids.length) return;
  await db.updateTable('notification_inbox').set({ applied_at: at, lease_until: null, error }).where('id', 'in', ids).execute();
}

/** Deletes events applied before `before`. */
export async function deleteAppliedInboxEvents(db: DB, before: number): Promise<void> {
  await db.deleteFrom('notification_inbox').where('applied_at', '<', before).execute();
}

/** How far behind applying is: events waiting, the oldest one's arrival, and the latest arrival of any event. */
export async function inboxBacklog(db: DB): Promise<{ pending: number; oldestPendingAt: number | null; lastReceivedAt: number | null }> {
  const p = await db
    .selectFrom('notification_inbox')
    .select((e) => [e.fn.countAll<number>().as('n'), e.fn.min<number>('received_at').as('t')])
    .where('applied_at', 'is', null)
    .executeTakeFirstOrThrow();
  const r = await db
    .selectFrom('notification_inbox')
    .select((e) => e.fn.max<number>('received_at').as('last'))
    .executeTakeFirst();
  return { pending: Number(p.n), oldestPendingAt: p.t ? Number(p.t) : null, lastReceivedAt: r?.last ? Number(r.last) : null };
}

/** Whether a push event for this repository received at or before `asOf` is still waiting to be applied. */
export async function hasPendingPushEvent(db: DB, repository: string, asOf: number): Promise<boolean> {
  // `!` escapes LIKE's wildcards on both dialects (SQLite has no default escape character).
  const needle = `%${JSON.stringify(repository).replace(/[!%_]/g, (c) => `!${c}`)}%`;
  const r = await db
    .selectFrom('notification_inbox')
    .select('event_id')
    .where('applied_at', 'is', null)
    .where('received_at', '<=', asOf)
    .where(sql<boolean>`payload like ${'%"action":"push"%'} and payload like ${needle} escape '!'`)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}
