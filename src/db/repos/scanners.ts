import type { DB } from '../connect.js';
import type { ScannerRegistrationsTable } from '../tables.js';
import { type KeysetPage, type PageRequest, SORTS } from '../../paging.js';
import { keysetPage } from './keyset.js';

export interface ScannerRegistration {
  id: number;
  name: string;
  url: string;
  authorization: string | null;
  createdAt: number;
  updatedAt: number;
}

type Row = { [K in keyof ScannerRegistrationsTable]: K extends 'id' ? number : ScannerRegistrationsTable[K] };

const toRegistration = (r: Row): ScannerRegistration => ({
  id: Number(r.id),
  name: r.name,
  url: r.url,
  authorization: r.authorization,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

/** A page of registrations by name, then id (keyset). */
export async function pageScannerRegistrations(db: DB, req: PageRequest): Promise<KeysetPage<ScannerRegistration>> {
  const page = await keysetPage(
    db,
    db.selectFrom('scanner_registrations'),
    SORTS.scanners,
    req,
    (qb) => qb.selectAll(),
    (r) => [r.name, Number(r.id)],
  );
  return { ...page, items: page.items.map((r) => toRegistration(r as Row)) };
}

export async function findScannerRegistration(db: DB, by: { id: number } | { name: string }): Promise<ScannerRegistration | undefined> {
  const q = db.selectFrom('scanner_registrations').selectAll();
  const r = await ('id' in by ? q.where('id', '=', by.id) : q.where('name', '=', by.name)).executeTakeFirst();
  return r && toRegistration(r as Row);
}

export async function insertScannerRegistration(db: DB, v: { name: string; url: string; authorization: string | null; now: number }): Promise<number> {
  const res = await db.insertInto('scanner_registrations').values({ name: v.name, url: v.url, authorization: v.authorization, created_at: v.now, updated_at: v.now }).executeTakeFirstOrThrow();
  return Number(res.insertId);
}

export async function updateScannerRegistration(db: DB, id: number, v: { url: string; authorization: string | null; now: number }): Promise<boolean> {
  const res = await db.updateTable('scanner_registrations').set({ url: v.url, authorization: v.authorization, updated_at: v.now }).where('id', '=', id).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteScannerRegistration(db: DB, id: number): Promise<boolean> {
  const res = await db.deleteFrom('scanner_registrations').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
