import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { formString, page, requireLogin, viewer, tr, errorText } from './render.js';

/** One's own account: change password (needs the current one; other sessions end). */
export function accountRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  r.get('/password', (c) => page(c, 'pages/account/password', { title: tr(c)('account.password_title'), done: c.req.query('done') === '1' }));
  r.post('/password', async (c) => {
    const form = await c.req.parseBody();
    const me = viewer(c)!;
    try {
      await c.var.services.accounts.changePassword(me.id, formString(form.new_password, 300), {
        oldPassword: formString(form.old_password, 300),
        keepSessionId: c.var.session?.id,
        clientIp: c.var.actor.ip,
      });
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      return page(c, 'pages/account/password', { title: tr(c)('account.password_title'), error: errorText(c, err) }, 422);
    }
    await c.var.services.audit.record(c.var.actor, 'change_password', 'user', me.name);
    return c.redirect('/account/password?done=1', 303);
  });
  return r;
}
