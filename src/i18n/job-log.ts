import type { TFunction } from 'i18next';
import type en from './en.json';

/** A key of a plural family (`x_one`, `x_other`) names the family by its base (`x`), as i18next looks it up. */
type PluralBase<K> = K extends `${infer B}_${'one' | 'other'}` ? B : K;

/** A job log message key: a key of the `joblog` section of the catalogues (`src/i18n/<locale>.json`). */
export type JobLogKey = PluralBase<keyof (typeof en)['joblog']>;

/** A job progress text key: a key of the `jobprogress` section (plural families by their base key). */
export type JobProgressKey = PluralBase<keyof (typeof en)['jobprogress']>;

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

/** A job's progress text as the job center reads it: `key` null on rows written before keys (shown as `text`). */
export interface StoredProgress {
  progressKey: string | null;
  progressParams: JobLogParams | null;
  progressText: string | null;
}

/**
 * A job's progress text in the language of `t`: the keyed text with its parameters, or the stored English text when
 * the row has no key (older rows) or its key is unknown (a row from a newer release), so it never shows as a bare key.
 */
export function renderJobProgress(t: TFunction, j: StoredProgress): string | null {
  if (!j.progressKey) return j.progressText;
  const full = `jobprogress.${j.progressKey}`;
  const out = t(full, { ...(j.progressParams ?? {}), defaultValue: '' });
  return typeof out === 'string' && out !== '' && out !== full ? out : j.progressText;
}
