import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { z } from 'zod';
import { LOCALE_NAMES, LOCALES } from '../../i18n/index.js';
import { ADVISORY_ID } from '../../registry/reference.js';
import { GARBAGE_COLLECTION } from '../../jobs/types/gc.js';
import { SORTS } from '../../paging.js';
import { systemAdminOnly, type Ctx } from '../http.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { flag, parseForm, text } from './forms.js';
import { fmtBytes, fmtTime, page, redirectWith, requireLogin, tr } from './render.js';

const MAX_ALLOWLIST = 1000;
const gcForm = z.object({ dry_run: flag(), delete_untagged: flag() });
/** The allowlist form as sent: the ids are split out of `items` and checked by `allowlistForm`. */
const allowlistFields = z.object({ items: text(50000), expires: text(20) });
/** The system CVE allowlist form: ids one per line or comma-separated (split before parsing), an optional expiry day. */
const allowlistForm = z.object({
  items: z.array(z.string().regex(ADVISORY_ID)).max(MAX_ALLOWLIST),
  expires: z.union([z.literal(''), z.string().regex(/^\d{4}-\d{2}-\d{2}$/)]),
});
const languageForm = z.object({ language: z.enum(LOCALES) });

/** System pages for system admins: garbage collection and the system CVE allowlist. */
export function systemPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const admin = systemAdminOnly('only system admins');
  r.use('/gc', requireLogin, admin);
  r.use('/settings', requireLogin, admin);
  r.use('/settings/*', requireLogin, admin);

  r.get('/gc', async (c) => {
    // The whole history, newest first, in pages (it showed the newest 50 only).
    const list = listId('jobs-ui', GARBAGE_COLLECTION, undefined);
    const q = listQuery(c, list, SORTS.newestFirst, { defaultLimit: 50, countTotal: false });
    const res = await c.var.services.jobs.listPage({ type: GARBAGE_COLLECTION, page: q.req });
    return page(c, 'pages/system/gc', {
      title: tr(c)('gc.title'),
      nav: 'gc',
      pager: cursorPager(c, list, res, q),
      items: res.items.map((j) => {
        const res = (j.result ?? {}) as { dryRun?: boolean; blobsDeleted?: number; bytesFreed?: number; durationMs?: number };
        const p = (j.payload ?? {}) as { dryRun?: boolean; deleteUntagged?: boolean };
        return {
          id: j.id,
          status: j.status,
          kindText: tr(c)(`gc.kind_${p.dryRun ? 'dry_run' : 'collect'}${p.deleteUntagged ? '_untagged' : ''}`),
          blobs: res.blobsDeleted ?? '—',
          bytes: res.bytesFreed !== undefined ? fmtBytes(res.bytesFreed) : '—',
          duration: res.durationMs !== undefined ? `${(res.durationMs / 1000).toFixed(1)} s` : '—',
          started: fmtTime(j.startedAt ?? j.createdAt),
        };
      }),
    });
  });

  r.post('/gc', async (c) => {
    const { dry_run: dryRun, delete_untagged: deleteUntagged } = await parseForm(c, gcForm);
    const { id } = await c.var.services.maintenance.collectGarbage({ principal: c.var.principal, actor: c.var.actor }, { dryRun, deleteUntagged });
    return redirectWith(c, `/jobs/${id}`, { kind: 'ok', text: tr(c)(dryRun ? 'gc.dry_run_queued' : 'gc.queued', { id }) });
  });

  const settings = async (c: Ctx, override?: { items: string[]; expires: string }, error?: string, status = 200) => {
    const a = await c.var.services.policy.systemAllowlist();
    return page(
      c,
      'pages/system/settings',
      {
        title: tr(c)('system.title'),
        nav: 'settings',
        items: override?.items ?? a.items,
        expires: override?.expires ?? (a.expiresAt ? new Date(a.expiresAt).toISOString().slice(0, 10) : ''),
        error,
        siteLanguage: await c.var.services.siteLanguage.get(),
        siteLanguages: LOCALES.map((l) => ({ code: l, name: LOCALE_NAMES[l] })),
      },
      status,
    );
  };
  r.get('/settings', (c) => settings(c));
  r.post('/settings/cve-allowlist', async (c) => {
    const form = await parseForm(c, allowlistFields);
    const items = form.items
      .split(/[\r\n,]+/)
      .map((x) => x.trim())
      .filter(Boolean);
    const { expires } = form;
    const parsed = allowlistForm.safeParse({ items, expires });
    if (!parsed.success) {
      const issues = parsed.error.issues;
      const bad = issues.find((i) => i.path[0] === 'items' && typeof i.path[1] === 'number');
      if (bad) return settings(c, { items, expires }, tr(c)('system.allowlist_bad_id', { id: items[bad.path[1] as number]!.slice(0, 100) }), 422);
      if (issues.some((i) => i.path[0] === 'items')) return settings(c, { items, expires }, tr(c)('system.allowlist_too_many', { max: MAX_ALLOWLIST }), 422);
      throw new AppError('BAD_REQUEST', 'expiry must be a date');
    }
    await c.var.services.policy.setSystemAllowlist({ items, expiresAt: expires ? Date.parse(`${expires}T23:59:59Z`) : null });
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'cve-allowlist', { items: items.length });
    return redirectWith(c, '/settings', { kind: 'ok', text: tr(c)('system.allowlist_saved') });
  });
  r.post('/settings/language', async (c) => {
    const parsed = languageForm.safeParse(await parseForm(c, z.object({ language: text(16) })));
    if (!parsed.success) throw new AppError('BAD_REQUEST', 'unknown language');
    const { language } = parsed.data;
    await c.var.services.siteLanguage.set(language);
    await c.var.services.audit.record(c.var.actor, 'update', 'system', 'default-language', { language });
    return redirectWith(c, '/settings', { kind: 'ok', text: tr(c)('site_language.saved') });
  });
  return r;
}
