import { randomBytes } from 'node:crypto';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../context.js';
import type { Ctx } from '../http.js';
import { AppError, type UiText } from '../../errors.js';
import { LOCALE_NAMES, LOCALES, type Locale, type Translate } from '../../i18n/index.js';

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

const FLASH_COOKIE = 'berth_flash';

/** The signed-in user as views see it (a view model, never a DB row). */
export function viewer(c: Ctx) {
  const p = c.var.principal;
  return p.kind === 'user' ? { name: p.name, isAdmin: p.isAdmin, id: p.id } : null;
}

/** The request's UI language (set by the UI's locale middleware; English before it ran). */
export const localeOf = (c: Ctx): Locale => c.var.locale ?? 'en';

/** The translate function for this request's language. */
export const tr = (c: Ctx): Translate => c.var.services.views.i18n.getFixedT(localeOf(c));

/** What every template needs besides its own data: `t` and the language. */
export const i18nData = (c: Ctx) => ({ t: tr(c), lang: localeOf(c), langChosen: c.var.localeChosen ?? false, locales: LOCALES.map((l) => ({ code: l, name: LOCALE_NAMES[l] })) });

/**
 * An error as the UI shows it, in the request's language: an {@link AppError}'s catalogue keys (`errors.<key>`) when
 * it has them, else its English message (the REST API always sends the English one). Anything else: `fallback`.
 */
export function errorText(c: Ctx, err: unknown, fallback = ''): string {
  if (!(err instanceof AppError)) return err instanceof Error ? err.message : fallback;
  if (!err.ui) return err.message;
  const t = tr(c);
  const parts = (Array.isArray(err.ui) ? err.ui : [err.ui]) as readonly UiText[];
  return parts.map((u) => t(`errors.${u.key}`, { ...u.params, defaultValue: err.message })).join(t('errors.separator'));
}

/** Renders a page inside the layout with the common view model (user, CSRF token, flash). */
export function page(c: Ctx, template: string, data: Record<string, unknown>, status = 200) {
  const flashRaw = getCookie(c, FLASH_COOKIE);
  let flash: Flash | undefined;
  if (flashRaw) {
    deleteCookie(c, FLASH_COOKIE, { path: '/' });
    try {
      const f = JSON.parse(Buffer.from(flashRaw, 'base64url').toString('utf8')) as Flash;
      if ((f.kind === 'ok' || f.kind === 'error') && typeof f.text === 'string') flash = { kind: f.kind, text: f.text.slice(0, 300) };
    } catch {
      /* ignore a mangled flash */
    }
  }
  const html = c.var.services.views.render(template, {
    me: viewer(c),
    csrf: c.var.session?.csrfToken ?? '',
    flash,
    banner: c.var.banner,
    passwordNotice: c.var.passwordNotice ?? false,
    advisoryNotice: c.var.advisoryNotice ?? false,
    path: ownPath(c),
    ...i18nData(c),
    ...data,
  });
  c.header('Cache-Control', 'no-store');
  return c.html(html, status as 200);
}

/** Renders a partial alone (an htmx fragment). */
export function fragment(c: Ctx, template: string, data: Record<string, unknown>, status = 200) {
  c.header('Vary', 'HX-Request');
  c.header('Cache-Control', 'no-store');
  return c.html(c.var.services.views.render(template, { csrf: c.var.session?.csrfToken ?? '', ...i18nData(c), ...data }), status as 200);
}

export const isHtmx = (c: Ctx) => c.req.header('hx-request') === 'true';

/** Post-redirect-get with a one-shot message. */
export function redirectWith(c: Ctx, to: string, flash?: Flash) {
  if (flash) {
    setCookie(c, FLASH_COOKIE, Buffer.from(JSON.stringify(flash)).toString('base64url'), {
      path: '/',
      httpOnly: true,
      sameSite: 'Lax',
      secure: c.var.services.config.secureCookies,
      maxAge: 60,
    });
  }
  return c.redirect(to, 303);
}

/** Anonymous visitors go to /login and come back afterwards. */
export const requireLogin = createMiddleware<AppEnv>(async (c, next) => {
  if (c.var.principal.kind === 'user') return next();
  const next_ = c.req.method === 'GET' ? c.req.path + (new URL(c.req.url).search || '') : '/';
  return c.redirect(`/login?next=${encodeURIComponent(next_)}`, 303);
});

/**
 * This page's path and query, for forms that come back here (the language selector): a `next` parameter in it is
 * replaced by what {@link safeNext} makes of it, so a hostile `?next=` is never written into the page.
 */
function ownPath(c: Ctx): string {
  const url = new URL(c.req.url);
  const next = url.searchParams.get('next');
  if (next !== null) url.searchParams.set('next', safeNext(next));
  return c.req.path + url.search;
}

/**
 * Only same-origin paths are followed after login (no open redirect). The candidate is resolved with the WHATWG URL
 * parser against Berth's own origin, the way a browser will resolve the Location header, and kept only when it
 * stays on that origin. Control characters (which the parser silently strips, so `/\t/evil.example` would become
 * `//evil.example`) and backslashes are refused outright, and so CR/LF never reach a header. Returns a path with
 * its query and fragment, or `/`.
 */
export function safeNext(raw: unknown, ownOrigin = 'http://berth.invalid'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 1024) return '/';
  // C0 controls, DEL, C1 controls, and the backslash browsers treat as a slash in http(s) URLs.
  if (/[\u0000-\u001f\u007f-\u009f\\]/.test(raw)) return '/';
  if (!raw.startsWith('/') || raw.startsWith('//')) return '/';
  let url: URL;
  try {
    url = new URL(raw, ownOrigin);
  } catch {
    return '/';
  }
  if (url.origin !== new URL(ownOrigin).origin) return '/';
  const out = url.pathname + url.search + url.hash;
  // The serialised path must itself be a plain local path (never `//host` after normalisation).
  return out.startsWith('/') && !out.startsWith('//') ? out : '/';
}

export const newToken = () => randomBytes(24).toString('base64url');

/** 1536 → "1.5 KiB" */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export const fmtTime = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) : '');

/** A pager view model for partials/pagination. */
export function pager(c: Ctx, page: number, limit: number, total: number) {
  const url = new URL(c.req.url);
  return {
    page,
    total,
    pages: Math.max(1, Math.ceil(total / limit)),
    href: (n: number) => {
      const u = new URLSearchParams(url.search);
      u.set('page', String(n));
      return `${url.pathname}?${u.toString()}`;
    },
  };
}
