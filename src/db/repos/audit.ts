import { sql } from 'kysely';
import { keysetPage } from './keyset.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import type { DB } from '../connect.js';
import type { AuditLogRow } from '../tables.js';
import { likeExpr } from './sql.js';

export interface AuditEntry {
  username: string;
  action: string;
  resourceType: string;
  resource: string;
  detail?: string | null;
  clientIp: string;
  at?: number;
}

/** An entry as its row: each text cut to its column's width (so an over-long value is stored shortened, not refused). */
const toRow = (e: AuditEntry) => ({
  created_at: e.at ?? Date.now(),
  username: e.username.slice(0, 255),
  action: e.action.slice(0, 64),
  resource_type: e.resourceType.slice(0, 64),
  resource: e.resource.slice(0, 512),
  detail: e.detail ?? null,
  client_ip: e.clientIp.slice(0, 64),
});

export async function insertAuditLog(db: DB, e: AuditEntry): Promise<void> {
  await db.insertInto('audit_logs').values(toRow(e)).execute();
}

export interface AuditFilter {
  username?: string;
  action?: string;
  resourceType?: string;
  /** substring of the resource */
  resource?: string;
  from?: number;
  to?: number;
  page: PageRequest;
}

/** One recorded action, as read back. */
export interface AuditRecord {
  id: number;
  /** epoch ms */
  at: number;
  username: string;
  action: string;
  resourceType: string;
  resource: string;
  /** JSON text, as recorded */
  detail: string | null;
  clientIp: string;
}

const toRecord = (r: AuditLogRow): AuditRecord => ({
  id: Number(r.id),
  at: Number(r.created_at),
  username: r.username,
  action: r.action,
  resourceType: r.resource_type,
  resource: r.resource,
  detail: r.detail,
  clientIp: r.client_ip,
});

/** Newest first, keyset-paginated on id (the table grows without bound). */
export async function listAuditLogs(db: DB, f: AuditFilter): Promise<KeysetPage<AuditRecord>> {
  let q = db.selectFrom('audit_logs');
  if (f.username) q = q.where('username', '=', f.username);
  if (f.action) q = q.where('action', '=', f.action);
  if (f.resourceType) q = q.where('resource_type', '=', f.resourceType);
  if (f.resource) q = q.where(likeExpr(sql.ref('resource'), f.resource));
  if (f.from !== undefined) q = q.where('created_at', '>=', f.from);
  if (f.to !== undefined) q = q.where('created_at', '<', f.to);
  const page = await keysetPage(
    db,
    q,
    SORTS.newestFirst,
    f.page,
    (qb) => qb.selectAll(),
    (r) => [Number(r.id)],
  );
  return { ...page, items: page.items.map(toRecord) };
}

/** Inserts several entries in one statement (the registry's access log, batched per drained batch). */
export async function insertAuditLogs(db: DB, entries: AuditEntry[]): Promise<void> {
  if (!entries.length) return;
  await db.insertInto('audit_logs').values(entries.map(toRow)).execute();
}
