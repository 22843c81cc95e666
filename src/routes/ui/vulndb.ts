import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { denied } from '../../errors.js';
import type { ImportStats } from '../../scanner/advisory-store.js';
import type { Ctx } from '../http.js';
import { fmtTime, page, requireLogin, viewer, tr } from './render.js';

/** The vulnerability database page: status for everyone signed in, import for system admins. */
export function vulndbPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  const show = async (c: Ctx, extra: { result?: ImportStats; error?: string } = {}, status = 200) => {
    const s = await c.var.services.advisories.status();
    return page(c, 'pages/vulndb/index', { title: tr(c)('vulndb.title'), nav: 'vulndb', total: s.total, updated: fmtTime(s.updatedAt), ecosystems: s.ecosystems, canImport: !!viewer(c)?.isAdmin, ...extra }, status);
  };
  r.get('/', (c) => show(c));
  r.post('/import', async (c) => {
    if (!viewer(c)?.isAdmin) throw denied('only system admins import advisories');
    const form = await c.req.parseBody();
    const file = form.file;
    if (!(file instanceof File) || file.size === 0) return show(c, { error: 'choose a file to import' }, 422);
    const buf = Buffer.from(await file.arrayBuffer());
    let result: ImportStats;
    try {
      result = buf[0] === 0x50 && buf[1] === 0x4b ? await c.var.services.advisories.importZip(buf) : await c.var.services.advisories.importValues([JSON.parse(buf.toString('utf8'))]);
    } catch (err) {
      return show(c, { error: `could not import ${file.name.slice(0, 100)}: ${(err as Error).message.slice(0, 200)}` }, 422);
    }
    await c.var.services.audit.record(c.var.actor, 'import', 'vulndb', file.name.slice(0, 200), { imported: result.imported, updated: result.updated, withdrawn: result.withdrawn, invalid: result.invalid });
    return show(c, { result });
  });
  return r;
}
