/** The closed set of error codes: the registry's own, plus Berth's. */
export const ERROR_STATUS = {
  UNAUTHORIZED: 401,
  DENIED: 403,
  NAME_UNKNOWN: 404,
  NAME_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PRECONDITION: 412,
  TOO_LARGE: 413,
  UNSUPPORTED: 415,
  UNPROCESSABLE: 422,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * An error's words as data: `errors.<key>` in the UI catalogues with the values it names, so the UI can say it in the
 * reader's language while the REST API keeps the English `message`.
 */
export interface UiText {
  key: string;
  params?: Record<string, string | number>;
}

/** A rule's complaint: the English sentence the API sends, and the same as a catalogue key for the UI. */
export interface Problem {
  message: string;
  ui: UiText;
}

export const problem = (message: string, key: string, params?: UiText['params']): Problem => ({ message, ui: { key, params } });

export class AppError extends Error {
  readonly status: number;
  /**
   * @param options.retryAfterSeconds for a retryable refusal (503): sent as `Retry-After`
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
    /** The message as catalogue keys for the UI (several: each is said); without it the UI shows `message`. */
    readonly ui?: UiText | readonly UiText[],
    readonly options: { retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

/** An AppError of `code` from a {@link Problem}: the API gets its English message, the UI its catalogue key. */
export const fromProblem = (code: ErrorCode, p: Problem) => new AppError(code, p.message, undefined, p.ui);

export const badRequest = (message: string, detail?: unknown, ui?: UiText | readonly UiText[]) => new AppError('BAD_REQUEST', message, detail, ui);
export const notFound = (message: string, ui?: UiText) => new AppError('NOT_FOUND', message, undefined, ui);
export const denied = (message = 'permission denied', ui?: UiText) => new AppError('DENIED', message, undefined, ui ?? (message === 'permission denied' ? { key: 'denied' } : undefined));
export const conflict = (message: string, ui?: UiText) => new AppError('CONFLICT', message, undefined, ui);
export const unauthorized = (message = 'authentication required', ui?: UiText) =>
  new AppError('UNAUTHORIZED', message, undefined, ui ?? (message === 'authentication required' ? { key: 'unauthorized' } : undefined));

/**
 * Codes of `/v2` answers: the distribution spec's error codes (docs/spec/api.md "Errors") plus the two Harbor uses
 * for policy, each with the status it is sent with. `/v2` refusals are made only through {@link v2Refusal}.
 */
export const V2_ERROR_STATUS = {
  UNAUTHORIZED: 401,
  DENIED: 403,
  NAME_UNKNOWN: 404,
  NAME_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  MANIFEST_INVALID: 400,
  TAG_INVALID: 400,
  DIGEST_INVALID: 400,
  BLOB_UPLOAD_INVALID: 400,
  NOT_FOUND: 404,
  UNSUPPORTED: 405,
  CONFLICT: 409,
  TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  TOOMANYREQUESTS: 429,
  UNKNOWN: 500,
  UNAVAILABLE: 503,
  /** Harbor's code for a pull refused by project policy; clients print its message after `unknown:` (README). */
  PROJECTPOLICYVIOLATION: 412,
  /** Immutability and quota refusals (Harbor: 412 PRECONDITION). */
  PRECONDITION: 412,
} as const;

export type V2ErrorCode = keyof typeof V2_ERROR_STATUS;

/** A `/v2` request refused by Berth: sent as `{"errors":[{code,message,detail?}]}` with the code's status. */
export interface V2Refusal {
  status: number;
  code: V2ErrorCode;
  message: string;
  detail?: unknown;
  headers?: Record<string, string>;
  /** The same refusal as a message key and its values, for the UI to say it in the reader's language. */
  reason?: RefusalReason;
}

/** A refusal's words as data: `gate.<key>` in the UI catalogues, with the values it names. */
export interface RefusalReason {
  key: string;
  params: Record<string, string | number>;
  /** an index refused for one of its platform images */
  index?: string;
}

export const v2Refusal = (code: V2ErrorCode, message: string, extra: { detail?: unknown; headers?: Record<string, string>; reason?: RefusalReason } = {}): V2Refusal => ({
  status: V2_ERROR_STATUS[code],
  code,
  message,
  ...extra,
});

/** True for a duplicate-key violation from either SQLite or MySQL/MariaDB. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number } | null;
  return !!e && (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'ER_DUP_ENTRY' || e.errno === 1062);
}
