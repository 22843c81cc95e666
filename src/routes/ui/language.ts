import { Hono } from 'hono';
import { z } from 'zod';
import { getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../../context.js';
import { isLocale, pickLocale, type Locale } from '../../i18n/index.js';
import type { Ctx } from '../http.js';
import { parseForm, text } from './forms.js';
import { isHtmx, redirectWith, safeNext } from './render.js';

/** Remembers a visitor's choice before (and apart from) signing in. */
export const LANG_COOKIE = 'berth_lang';

/**
 * The request's UI language: the signed-in user's stored choice, else the cookie's, else Accept-Language; `chosen`
 * tells whether a choice decided it (the selector shows "Browser default" otherwise).
 */
export async function uiLocale(c: Ctx): Promise<{ locale: Locale; chosen: boolean }> {
  const p = c.var.principal;
  const stored = p?.kind === 'user' ? await c.var.services.accounts.locale(p.id) : null;
  const choice = stored ?? getCookie(c, LANG_COOKIE);
  return { locale: pickLocale(choice, c.req.header('accept-language')), chosen: isLocale(choice) };
}

/** The selector's form; `next` is kept past `safeNext`'s limit, so a longer one is refused, not cut. */
const languageForm = z.object({ lang: text(16), next: text(1025) });

/** POST /language: the language selector. Stored per user when signed in; `auto` follows the browser again. */
export function languageRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.post('/language', async (c) => {
    const form = await parseForm(c, languageForm);
    const raw = form.lang;
    const lang = isLocale(raw) ? raw : null;
    if (!lang && raw !== 'auto') return redirectWith(c, safeNext(form.next));
    const p = c.var.principal;
    if (p.kind === 'user') await c.var.services.accounts.setLocale(p.id, lang);
    setCookie(c, LANG_COOKIE, lang ?? '', { path: '/', httpOnly: true, sameSite: 'Lax', secure: c.var.services.config.secureCookies, maxAge: lang ? 365 * 86400 : 0 });
    if (isHtmx(c)) {
      // The selector posts on change through htmx: load the page again in the new language, by GET (a refresh of a
      // page a form POST answered would send that form again: a second robot, a regenerated secret).
      c.header('HX-Redirect', safeNext(form.next));
      return c.body(null, 200);
    }
    return redirectWith(c, safeNext(form.next));
  });
  return r;
}
