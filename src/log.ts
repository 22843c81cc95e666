import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. Credentials never reach a log line: they are redacted by path. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { svc: 'berth' },
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'authorization', '*.authorization', 'token', '*.token'], censor: '[redacted]' },
  });
}
