import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import path from 'node:path';
import { AppError } from '../../errors.js';
import { VULNDB_IMPORT_LIMIT } from '../../services/upload-slots.js';
import { receiveUpload } from '../body.js';
import type { ImportStats } from '../../scanner/advisory-store.js';
import { isSystemAdmin } from '../../auth/principal.js';
import { requireSystemAdmin, type Ctx } from '../http.js';
import { fmtTime, page, requireLogin, tr } from './render.js';

/** The vulnerability database page: status for everyone signed in, import for system admins. */
export function vulndbPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  const show = async (c: Ctx, extra: { result?: ImportStats; error?: string } = {}, status = 200) => {
    const s = await c.var.services.advisories.status();
    return page(
      c,
      'pages/vulndb/index',
      { title: tr(c)('vulndb.title'), nav: 'vulndb', total: s.total, updated: fmtTime(s.updatedAt), ecosystems: s.ecosystems, canImport: isSystemAdmin(c.var.principal), ...extra },
      status,
    );
  };
  r.get('/', (c) => show(c));
  // Admin check first: the file is read only after it, into a temporary file (src/routes/body.ts).
  r.post('/import', async (c) => {
    requireSystemAdmin(c, 'only system admins import advisories');
    const { uploads, config, advisoryImports } = c.var.services;
    let upload;
    try {
      upload = await receiveUpload(c, { tmpDir: path.join(config.dataDir, 'tmp'), maxBytes: VULNDB_IMPORT_LIMIT, slots: uploads, field: 'file' });
    } catch (err) {
      if (err instanceof AppError && err.status === 400) return show(c, { error: tr(c)('vulndb.choose_file') }, 422);
      throw err;
    }
    let result: ImportStats;
    try {
      if (upload.size === 0) return show(c, { error: tr(c)('vulndb.choose_file') }, 422);
      result = await advisoryImports.importFile({ principal: c.var.principal, actor: c.var.actor }, upload.path, { source: upload.filename });
    } catch (err) {
      return show(c, { error: tr(c)('vulndb.import_failed', { file: upload.filename.slice(0, 100), error: (err as Error).message.slice(0, 200) }) }, 422);
    } finally {
      upload.dispose();
    }
    return show(c, { result });
  });
  return r;
}
