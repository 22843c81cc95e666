import { Hono } from 'hono';
import { deleteCookie, getSignedCookie, setCookie, setSignedCookie } from 'hono/cookie';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { SESSION_COOKIE } from '../middleware.js';
import type { OidcFlowState } from '../../services/oidc-service.js';
import { redirectWith, safeNext } from './render.js';

const FLOW_COOKIE = 'berth_oidc_flow';
/** The ID token, kept for the provider's logout (`id_token_hint`); sent only to /logout. */
export const OIDC_LOGOUT_COOKIE = 'berth_oidc_logout';

/** The browser side of OpenID Connect sign-in: /oidc/login sends the browser to the provider, /oidc/callback returns. */
export function oidcPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/oidc/login', async (c) => {
    const { identity, oidc, config } = c.var.services;
    if ((await identity.settings.mode()) !== 'oidc') throw new AppError('NOT_FOUND', 'OpenID Connect sign-in is not enabled');
    const { url, flow } = await oidc.begin(safeNext(c.req.query('next')));
    // The flow's secrets ride in a signed cookie: the state and PKCE verifier never appear in a URL we control.
    await setSignedCookie(c, FLOW_COOKIE, JSON.stringify(flow), oidc.cookieKey, { path: '/oidc', httpOnly: true, sameSite: 'Lax', secure: config.secureCookies, maxAge: 600 });
    return c.redirect(url, 303);
  });

  r.get('/oidc/callback', async (c) => {
    const { accounts, oidc, config, audit } = c.var.services;
    const raw = await getSignedCookie(c, oidc.cookieKey, FLOW_COOKIE);
    deleteCookie(c, FLOW_COOKIE, { path: '/oidc' });
    if (!raw) throw new AppError('BAD_REQUEST', 'the sign-in took too long or was started elsewhere: sign in again');
    const error = c.req.query('error');
    if (error) throw new AppError('UNAUTHORIZED', `the provider refused the sign-in: ${(c.req.query('error_description') ?? error).slice(0, 200)}`);
    const flow = JSON.parse(raw) as OidcFlowState;
    const { user, idToken, next } = await oidc.complete(new URL(c.req.url).search, flow);
    if (c.var.session) await accounts.endSession(c.var.session.id); // no session fixation
    const { token } = await accounts.createSession(user.id);
    setCookie(c, SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'Lax', secure: config.secureCookies, maxAge: config.sessionTtlSeconds });
    if (idToken && idToken.length < 3800)
      setCookie(c, OIDC_LOGOUT_COOKIE, idToken, { path: '/logout', httpOnly: true, sameSite: 'Lax', secure: config.secureCookies, maxAge: config.sessionTtlSeconds });
    await audit.record({ name: user.username, ip: c.var.actor.ip }, 'login', 'user', user.username, { via: 'oidc' });
    return redirectWith(c, safeNext(next));
  });

  return r;
}
