import { Hono } from 'hono';
import { z } from 'zod';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { constantTimeEqual, SESSION_COOKIE } from '../middleware.js';
import type { Ctx } from '../http.js';
import { OIDC_LOGOUT_COOKIE } from './oidc.js';
import { parseForm, text } from './forms.js';
import { newToken, page, redirectWith, safeNext, tr, errorText } from './render.js';

const LOGIN_CSRF_COOKIE = 'berth_login_csrf';

async function loginPage(c: Ctx, opts: { error?: string; username?: string; next?: string }, status = 200) {
  // Login CSRF: a double-submit token, since there is no session yet to hold one.
  const token = newToken();
  setCookie(c, LOGIN_CSRF_COOKIE, token, { path: '/login', httpOnly: true, sameSite: 'Strict', secure: c.var.services.config.secureCookies, maxAge: 3600 });
  const mode = await c.var.services.identity.settings.mode();
  return page(c, 'pages/login', { title: tr(c)('login.title'), loginCsrf: token, error: opts.error, username: opts.username ?? '', next: opts.next ?? '/', mode }, status);
}

/** The sign-in form; `next` is kept past `safeNext`'s 1024-character limit, so a longer one is refused, not cut. */
const loginForm = z.object({ _csrf: text(128), username: text(255), password: text(256), next: text(1025) });

export function authPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/login', (c) => {
    if (c.var.principal.kind === 'user') return c.redirect(safeNext(c.req.query('next'), c.var.services.config.externalUrl), 303);
    return loginPage(c, { next: safeNext(c.req.query('next'), c.var.services.config.externalUrl) });
  });

  r.post('/login', async (c) => {
    const form = await parseForm(c, loginForm);
    const cookieToken = getCookie(c, LOGIN_CSRF_COOKIE) ?? '';
    const sent = form._csrf;
    if (!cookieToken || !sent || !constantTimeEqual(cookieToken, sent))
      throw new AppError('DENIED', 'the sign-in form expired: reload the page and try again', undefined, { key: 'login_form_expired' });
    const { username, password } = form;
    const next = safeNext(form.next, c.var.services.config.externalUrl);
    const { accounts, config, audit, identity } = c.var.services;
    let user;
    try {
      user = await identity.authenticate(username, password, c.var.actor.ip);
    } catch (err) {
      if (err instanceof AppError && (err.code === 'UNAUTHORIZED' || err.code === 'TOO_MANY_REQUESTS' || err.code === 'UNAVAILABLE')) {
        return loginPage(c, { error: errorText(c, err), username, next }, err.status);
      }
      throw err;
    }
    if (c.var.session) await accounts.endSession(c.var.session.id); // no session fixation
    const { token } = await accounts.createSession(user.id);
    setCookie(c, SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'Lax', secure: config.secureCookies, maxAge: config.sessionTtlSeconds });
    deleteCookie(c, LOGIN_CSRF_COOKIE, { path: '/login' });
    await audit.record({ name: user.username, ip: c.var.actor.ip }, 'login', 'user', user.username);
    return redirectWith(c, next);
  });

  r.post('/logout', async (c) => {
    if (c.var.session) await c.var.services.accounts.endSession(c.var.session.id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    // Signed in through OpenID Connect: end the provider's session too, when it offers that.
    const idToken = getCookie(c, OIDC_LOGOUT_COOKIE);
    if (idToken !== undefined) {
      deleteCookie(c, OIDC_LOGOUT_COOKIE, { path: '/logout' });
      const url = await c.var.services.oidc.logoutUrl(idToken);
      // A page with a link, not a redirect: CSP form-action 'self' rightly stops a form post from ending up elsewhere.
      if (url) return page(c, 'pages/oidc-logout', { title: tr(c)('oidc_logout.title'), providerLogoutUrl: url });
    }
    return c.redirect('/login', 303);
  });

  return r;
}
