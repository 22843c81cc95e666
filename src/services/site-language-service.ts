import type { DB } from '../db/connect.js';
import { getSetting, putSetting } from '../db/repos/settings.js';
import { isLocale, type Locale } from '../i18n/index.js';

const SETTING = 'default_language';
// Read at most this often per process: a change reaches other replicas within this time.
const CACHE_MS = 5000;

/**
 * The site's default language: what Berth speaks where no viewer chose one (Slack webhook messages). A system
 * setting; English when unset or unreadable.
 */
export class SiteLanguageService {
  private cached: { at: number; locale: Locale } | null = null;

  constructor(private readonly db: DB) {}

  /** The default language now (cached for 5 s). */
  async get(): Promise<Locale> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.locale;
    const v = await getSetting<unknown>(this.db, SETTING);
    const locale = isLocale(v) ? v : 'en';
    this.cached = { at: Date.now(), locale };
    return locale;
  }

  /** Stores the default language (one of `LOCALES`). */
  async set(locale: Locale): Promise<void> {
    await putSetting(this.db, SETTING, locale);
    this.cached = null;
  }
}
