import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

const VIEWS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'views');

export type Views = Eta;

/**
 * eta with auto-escaping on: `<%= %>` escapes; raw `<%~ %>` is only for layout bodies and includes.
 * No auto-trim: trimming the newline after each tag joined the lines of every `<pre>` (the push commands, job
 * logs) into one; in the rest of the HTML an extra newline is only whitespace. Trim by hand with `-%>` where a
 * newline would matter.
 */
export function createViews(opts: { cache: boolean }): Views {
  return new Eta({ views: VIEWS_DIR, cache: opts.cache, autoEscape: true, autoTrim: false });
}
