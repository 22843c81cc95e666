import type { TFunction } from 'i18next';
import type en from './en.json';

/** A job log message key: a key of the `joblog` section of the catalogues (`src/i18n/<locale>.json`). */
export type JobLogKey = keyof (typeof en)['joblog'];

/** A log message's parameters: plain values interpolated into the translation (`{{name}}`). */
export type JobLogParams = Record<string, string | number>;

/** One stored log line as the job center reads it: `key` null on lines written before keys (shown as `message`). */
export interface StoredLogLine {
  key: string | null;
  params: JobLogParams | null;
  message: string;
}

/**
 * The text of a job log line in the language of `t` (a fixed-language TFunction): the keyed message with its
 * parameters, or the stored `message` when the line has no key (older rows) or its key is not in the catalogue
 * (a row from a newer release), so a line never shows as a bare key.
 */
export function renderJobLog(t: TFunction, line: StoredLogLine): string {
  if (!line.key) return line.message;
  const full = `joblog.${line.key}`;
  const out = t(full, { ...(line.params ?? {}), defaultValue: '' });
  return typeof out === 'string' && out !== '' && out !== full ? out : line.message;
}
