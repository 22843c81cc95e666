import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { SORTS } from '../../paging.js';
import { pathId, systemAdminOnly, type Ctx } from '../http.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { flag, parseForm, text } from './forms.js';
import { fmtTime, page, redirectWith, requireLogin, viewer, tr, errorText } from './render.js';

/** The new-user form: the account rules (name, password, email) are AccountService's. */
const userForm = z.object({ username: text(255), password: text(300), email: text(255), admin: flag() });

/** The users admin page: system admins only. */
export function userPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin, systemAdminOnly('only system admins manage users'));

  const listPage = async (c: Ctx, form: Record<string, unknown>, status = 200) => {
    const search = c.req.query('q')?.slice(0, 255) ?? '';
    const list = listId('users', search || undefined);
    const q = listQuery(c, list, SORTS.users);
    const res = await c.var.services.accounts.listUsers({ q: search || undefined, page: q.req });
    const items = res.items;
    const me = viewer(c)!;
    return page(
      c,
      'pages/users/index',
      {
        title: tr(c)('users.title'),
        nav: 'users',
        q: search,
        items: items.map((u) => ({ ...u, created: fmtTime(u.createdAt), self: u.id === me.id })),
        pager: cursorPager(c, list, res, q),
        form,
      },
      status,
    );
  };

  r.get('/', (c) => listPage(c, {}));

  r.post('/', async (c) => {
    const form = await parseForm(c, userForm);
    const { username } = form;
    const email = form.email || null;
    try {
      const u = await c.var.services.accounts.createUser({ username, password: form.password, email, isAdmin: form.admin });
      await c.var.services.audit.record(c.var.actor, 'create', 'user', u.username, { admin: u.isAdmin });
      return redirectWith(c, '/users', { kind: 'ok', text: tr(c)('users.created_flash', { name: u.username }) });
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      return listPage(c, { username, email, error: errorText(c, err) }, 422);
    }
  });

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    r.post(`/:id/${verb}`, async (c) => {
      const id = pathId(c, 'id');
      const u = await c.var.services.accounts.setDisabled(c.var.principal, id, disabled);
      await c.var.services.audit.record(c.var.actor, 'update', 'user', u.username, { disabled });
      return redirectWith(c, '/users', { kind: 'ok', text: tr(c)(disabled ? 'users.disabled_flash' : 'users.enabled_flash', { name: u.username }) });
    });
  }

  r.get('/:id/delete', async (c) => {
    const u = await c.var.services.accounts.getUser(pathId(c, 'id'));
    if (!u) throw new AppError('NOT_FOUND', 'user not found', undefined, { key: 'user_not_found' });
    return page(c, 'pages/confirm', {
      title: tr(c)('users.delete'),
      heading: tr(c)('users.delete'),
      question: tr(c)('users.delete_question', { name: u.username }),
      action: `/users/${u.id}/delete`,
      confirmLabel: tr(c)('users.delete'),
      cancel: '/users',
    });
  });

  r.post('/:id/delete', async (c) => {
    const id = pathId(c, 'id');
    const u = await c.var.services.accounts.getUser(id);
    if (!u) throw new AppError('NOT_FOUND', 'user not found', undefined, { key: 'user_not_found' });
    await c.var.services.accounts.deleteUser(c.var.principal, id);
    await c.var.services.audit.record(c.var.actor, 'delete', 'user', u.username);
    return redirectWith(c, '/users', { kind: 'ok', text: tr(c)('users.deleted_flash', { name: u.username }) });
  });

  return r;
}
