import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadTokenKeys, selfSignedCertificate, toPem } from '../../src/auth/token-keys.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { loadNotificationSecret, loadSettingsKey } from '../../src/registry/secrets.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-keyfiles-'));
const write = (name: string, content: string) => {
  fs.writeFileSync(path.join(dir, name), content);
  return path.join(dir, name);
};
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const key = ecKey();
const keyFile = write('token.key', key.export({ type: 'pkcs8', format: 'pem' }) as string);
const certFile = write('token.crt', toPem(selfSignedCertificate(key, 'Berth token signer')));

describe('token key, certificate and notification secret from files', () => {
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('config takes the three paths, resolved, and refuses half a pair or a secret given twice', () => {
    const c = loadConfig({ BERTH_TOKEN_KEY_FILE: keyFile, BERTH_TOKEN_CERT_FILE: certFile, BERTH_NOTIFICATION_SECRET_FILE: 'rel/secret' });
    assert.equal(c.tokenKeyFile, keyFile);
    assert.equal(c.tokenCertFile, certFile);
    assert.equal(c.notificationSecretFile, path.resolve('rel/secret'));
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.problems.join('\n');
      }
      return '';
    };
    assert.match(problems({ BERTH_TOKEN_KEY_FILE: keyFile }), /set both or neither/);
    assert.match(problems({ BERTH_TOKEN_CERT_FILE: certFile }), /set both or neither/);
    const both = problems({ BERTH_NOTIFICATION_SECRET: 'x'.repeat(20), BERTH_NOTIFICATION_SECRET_FILE: '/s', BERTH_TOKEN_TTL: '1' });
    assert.match(both, /not both/);
    assert.match(both, /BERTH_TOKEN_TTL/, 'reported with the other problems');
  });

  it('signs with the files and generates nothing in the data dir', () => {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    const k = loadTokenKeys({ dataDir: data, keyFile, certFile });
    assert.equal(k.certPath, certFile);
    assert.equal(k.certPem, fs.readFileSync(certFile, 'utf8'));
    assert.deepEqual(k.privateKey.export({ type: 'pkcs8', format: 'der' }), key.export({ type: 'pkcs8', format: 'der' }));
    assert.deepEqual(fs.readdirSync(data), []);
    // The same files on another data dir give the same signer: what replicas rely on.
    assert.equal(loadTokenKeys({ dataDir: fs.mkdtempSync(path.join(dir, 'data-')), keyFile, certFile }).kid, k.kid);
    // Without files, each data dir has its own.
    const a = loadTokenKeys({ dataDir: fs.mkdtempSync(path.join(dir, 'data-')) });
    const b = loadTokenKeys({ dataDir: fs.mkdtempSync(path.join(dir, 'data-')) });
    assert.notEqual(a.kid, b.kid);
  });

  it('refuses a missing file, a key that is not EC P-256, a certificate of another key, and text that is no certificate', () => {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile: path.join(dir, 'nope'), certFile }), /BERTH_TOKEN_KEY_FILE .*nope: ENOENT/);
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile, certFile: path.join(dir, 'nope') }), /BERTH_TOKEN_CERT_FILE .*nope: ENOENT/);
    const rsa = write('rsa.key', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile: rsa, certFile }), /must be an EC P-256 key/);
    const p384 = write('p384.key', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile: p384, certFile }), /must be an EC P-256 key/);
    const garbage = write('garbage.key', 'not a key');
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile: garbage, certFile }), /not a PEM private key/);
    const other = ecKey();
    const otherCert = write('other.crt', toPem(selfSignedCertificate(other, 'someone else')));
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile, certFile: otherCert }), /is not the certificate of BERTH_TOKEN_KEY_FILE's key/);
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile, certFile: keyFile }), /no PEM certificate/);
    assert.throws(() => loadTokenKeys({ dataDir: data, keyFile }), /go together/);
    assert.deepEqual(fs.readdirSync(data), [], 'nothing generated on the way');
  });

  it('generates certificates that parse, every time (a serial with a padded first byte would not)', () => {
    for (let i = 0; i < 1000; i++) {
      const pem = toPem(selfSignedCertificate(key, 'Berth token signer', i % 2 ? ['127.0.0.1', 'localhost'] : undefined));
      assert.ok(new X509Certificate(pem).checkPrivateKey(key), `certificate ${i}`);
    }
  });

  it('takes the first certificate of a chain', () => {
    const chain = write('chain.crt', fs.readFileSync(certFile, 'utf8') + toPem(selfSignedCertificate(ecKey(), 'ca')));
    const k = loadTokenKeys({ dataDir: fs.mkdtempSync(path.join(dir, 'data-')), keyFile, certFile: chain });
    assert.equal(k.certPem, fs.readFileSync(certFile, 'utf8'));
  });

  it('reads the notification secret from its file (trimmed), refuses a short or unreadable one, else generates one', () => {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    const file = write('notification.secret', 'a-long-enough-secret-1234\n');
    assert.equal(loadNotificationSecret({ dataDir: data, secretFile: file }), 'a-long-enough-secret-1234');
    assert.deepEqual(fs.readdirSync(data), []);
    assert.throws(() => loadNotificationSecret({ dataDir: data, secretFile: write('short', 'short\n') }), /at least 16 characters/);
    assert.throws(() => loadNotificationSecret({ dataDir: data, secretFile: write('two', 'a-long-enough-secret-1234 and more') }), /one secret/);
    assert.throws(() => loadNotificationSecret({ dataDir: data, secretFile: path.join(dir, 'nope') }), /ENOENT/);
    assert.deepEqual(fs.readdirSync(data), []);
    assert.equal(loadNotificationSecret({ dataDir: data, secret: 'from-the-environment-1' }), 'from-the-environment-1');
    const generated = loadNotificationSecret({ dataDir: data });
    assert.equal(fs.readFileSync(path.join(data, 'keys/notification.secret'), 'utf8'), generated);
  });

  it('reads the settings key from its file (32 bytes, base64url), refuses anything else, else generates one', () => {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    const raw = Buffer.alloc(32, 7);
    assert.deepEqual(loadSettingsKey({ dataDir: data, keyFile: write('settings.key', `${raw.toString('base64url')}\n`) }), raw);
    assert.throws(() => loadSettingsKey({ dataDir: data, keyFile: write('short.key', Buffer.alloc(16).toString('base64url')) }), /32 bytes/);
    assert.throws(() => loadSettingsKey({ dataDir: data, keyFile: write('text.key', 'not base64 at all!') }), /32 bytes/);
    assert.throws(() => loadSettingsKey({ dataDir: data, keyFile: path.join(dir, 'nope') }), /BERTH_SETTINGS_KEY_FILE .*ENOENT/);
    assert.deepEqual(fs.readdirSync(data), []);
    const generated = loadSettingsKey({ dataDir: data });
    assert.equal(generated.length, 32);
    assert.deepEqual(loadSettingsKey({ dataDir: data }), generated, 'stable across starts');
  });
});
