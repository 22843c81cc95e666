import { createInstance, type i18n, type TFunction } from 'i18next';
import en from './en.json' with { type: 'json' };
import zhCN from './zh-CN.json' with { type: 'json' };

/** The UI languages, each with one message catalogue (`src/i18n/<locale>.json`); the first is the fallback. */
export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];

/** Each language's own name, for the language selector. */
export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', 'zh-CN': '简体中文' };

export const CATALOGUES: Record<Locale, Record<string, unknown>> = { en, 'zh-CN': zhCN };

export const isLocale = (s: unknown): s is Locale => typeof s === 'string' && (LOCALES as readonly string[]).includes(s);

/** One i18next instance with every catalogue loaded synchronously (no backend, no network). */
export function createI18n(): i18n {
  const inst = createInstance();
  void inst.init({
    resources: Object.fromEntries(LOCALES.map((l) => [l, { translation: CATALOGUES[l] }])),
    lng: 'en',
    fallbackLng: 'en',
    supportedLngs: [...LOCALES],
    initAsync: false,
    // eta escapes what templates print; escaping here too would show `&amp;` to users.
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  return inst;
}

export type Translate = TFunction;

/**
 * The UI language: the user's stored choice, else the best `Accept-Language` match (RFC 9110 §12.5.4: q-values,
 * `zh`, `zh-CN`, `zh-Hans`, `zh-SG` all read as Simplified Chinese), else English.
 */
export function pickLocale(chosen: string | null | undefined, acceptLanguage: string | undefined): Locale {
  if (isLocale(chosen)) return chosen;
  if (!acceptLanguage) return 'en';
  const ranges = acceptLanguage
    .slice(0, 1000)
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag: tag.trim().toLowerCase(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((r) => r.tag && r.q > 0 && !Number.isNaN(r.q))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranges) {
    if (r.tag === 'zh' || r.tag === 'zh-cn' || r.tag === 'zh-sg' || r.tag.startsWith('zh-hans')) return 'zh-CN';
    if (r.tag === 'en' || r.tag.startsWith('en-')) return 'en';
  }
  return 'en';
}
