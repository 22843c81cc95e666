import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** A random secret kept in the data dir (0600), created on first use: stable across restarts and replicas sharing the dir. */
export function loadOrCreateSecret(dataDir: string, name: string): string {
  const dir = path.join(dataDir, 'keys');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, randomBytes(32).toString('base64url'), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  fs.chmodSync(file, 0o600);
  return fs.readFileSync(file, 'utf8').trim();
}

/**
 * The secret the registry sends to `/service/notifications`: `secret` (BERTH_NOTIFICATION_SECRET) or the trimmed
 * content of `secretFile` (BERTH_NOTIFICATION_SECRET_FILE; then nothing is generated), else generated once in the
 * data dir. Throws when the file is unreadable or holds fewer than 16 characters.
 */
export function loadNotificationSecret(source: { dataDir: string; secret?: string | undefined; secretFile?: string | undefined }): string {
  if (source.secret) return source.secret;
  if (source.secretFile) {
    let text: string;
    try {
      text = fs.readFileSync(source.secretFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`BERTH_NOTIFICATION_SECRET_FILE ${source.secretFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (text.length < 16 || /\s/.test(text)) throw new Error(`BERTH_NOTIFICATION_SECRET_FILE ${source.secretFile}: must hold one secret of at least 16 characters`);
    return text;
  }
  return loadOrCreateSecret(source.dataDir, 'notification.secret');
}

/**
 * The 32-byte AES key that encrypts secrets saved through the settings API (LDAP bind password, OIDC client secret):
 * from `keyFile` (BERTH_SETTINGS_KEY_FILE: base64url of 32 bytes, as `berth secrets` writes it; then nothing is
 * generated, so replicas without a shared data dir read each other's settings), else generated once in the data dir.
 * Throws when the file is unreadable or does not hold 32 bytes.
 */
export function loadSettingsKey(source: { dataDir: string; keyFile?: string | undefined }): Buffer {
  if (!source.keyFile) return Buffer.from(loadOrCreateSecret(source.dataDir, 'settings.key'), 'base64url');
  let text: string;
  try {
    text = fs.readFileSync(source.keyFile, 'utf8').trim();
  } catch (err) {
    throw new Error(`BERTH_SETTINGS_KEY_FILE ${source.keyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const key = Buffer.from(text, 'base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(text) || key.length !== 32) throw new Error(`BERTH_SETTINGS_KEY_FILE ${source.keyFile}: must hold 32 bytes, base64url (berth secrets writes one)`);
  return key;
}
