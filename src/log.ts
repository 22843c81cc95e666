import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The first start's generated admin password, as a block set apart from the JSON log lines (written to stderr, once,
 * by main.ts; never through the logger).
 */
export function adminPasswordBanner(password: string): string {
  const rule = '='.repeat(78);
  return `\n${rule}\n  Berth created user "admin" with this generated password:\n\n      ${password}\n\n  Sign in and change it (your profile, Change password). It is not shown again.\n${rule}\n\n`;
}

/** Structured JSON logs on stdout. Credentials never reach a log line: they are redacted by path. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { svc: 'berth' },
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'authorization', '*.authorization', 'token', '*.token'], censor: '[redacted]' },
  });
}
