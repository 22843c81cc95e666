import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { i18n } from 'i18next';
import { createI18n } from './i18n/index.js';

const VIEWS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'views');

/** eta plus the UI's message catalogues (templates call `t('key')`; the render helper hands each request's `t`). */
export type Views = Eta & { i18n: i18n };

/**
 * eta with auto-escaping on: `<%= %>` escapes; raw `<%~ %>` is only for layout bodies and includes.
 * No auto-trim: trimming the newline after each tag joined the lines of every `<pre>` (the push commands, job
 * logs) into one; in the rest of the HTML an extra newline is only whitespace. Trim by hand with `-%>` where a
 * newline would matter.
 * Every template sees `t` (the request's translate function, passed as `it.t` and inherited by includes).
 */
export function createViews(opts: { cache: boolean }): Views {
  const eta = new Eta({ views: VIEWS_DIR, cache: opts.cache, autoEscape: true, autoTrim: false, functionHeader: 'const t = it.t;' });
  return Object.assign(eta, { i18n: createI18n() });
}
