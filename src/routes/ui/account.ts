import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../auth/passwords.js';
import { z } from 'zod';
import { parseForm, text } from './forms.js';
import { page, requireLogin, viewer, tr, errorText } from './render.js';

/** The form's view model: the rules it states are the ones `passwordProblem` enforces. */
const rules = { min: PASSWORD_MIN, max: PASSWORD_MAX };

const passwordForm = z.object({ old_password: text(300), new_password: text(300), confirm_password: text(300) });

/** One's own account: change password (needs the current one; other sessions end). */
export function accountRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  r.get('/password', (c) => page(c, 'pages/account/password', { title: tr(c)('account.password_title'), rules, done: c.req.query('done') === '1' }));
  r.post('/password', async (c) => {
    const form = await parseForm(c, passwordForm);
    const me = viewer(c)!;
    // A typo in a password one cannot see would lock its owner out: the confirmation must match, or nothing changes.
    if (form.new_password !== form.confirm_password) {
      return page(c, 'pages/account/password', { title: tr(c)('account.password_title'), rules, error: tr(c)('account.password_mismatch') }, 422);
    }
    try {
      await c.var.services.accounts.changePassword(me.id, form.new_password, {
        oldPassword: form.old_password,
        keepSessionId: c.var.session?.id,
        clientIp: c.var.actor.ip,
      });
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      return page(c, 'pages/account/password', { title: tr(c)('account.password_title'), rules, error: errorText(c, err) }, 422);
    }
    await c.var.services.audit.record(c.var.actor, 'change_password', 'user', me.name);
    return c.redirect('/account/password?done=1', 303);
  });
  return r;
}
