import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The registry token signing key: an EC P-256 key and a self-signed certificate for it, generated on first start
 * under the data dir (key 0600). The registry trusts the certificate (`rootcertbundle`); tokens carry it as `x5c`
 * (what both distribution 2.8 and 3.x verify) and the libtrust key id as `kid` (what 2.8 also looks up).
 */
export interface TokenKeys {
  privateKey: KeyObject;
  certDer: Buffer;
  certPem: string;
  certPath: string;
  /** libtrust key id of the public key */
  kid: string;
}

/**
 * The token keys Berth signs with: from `keyFile` and `certFile` when both are given (as Kubernetes secrets or compose
 * files mount them: then nothing is generated or written, so replicas without a shared data dir sign alike), else
 * generated once under `<dataDir>/keys` (see loadOrCreateTokenKeys). Throws an Error naming the variable when a file
 * is unreadable, the key is not EC P-256 (ES256, what the registry verifies), or the certificate is not the key's.
 */
export function loadTokenKeys(source: { dataDir: string; keyFile?: string | undefined; certFile?: string | undefined }): TokenKeys {
  if (!source.keyFile && !source.certFile) return loadOrCreateTokenKeys(source.dataDir);
  if (!source.keyFile || !source.certFile) throw new Error('BERTH_TOKEN_KEY_FILE and BERTH_TOKEN_CERT_FILE go together');
  return tokenKeysFromFiles(source.keyFile, source.certFile);
}

/** Reads and checks a PEM private key and its PEM certificate (the first one when the file holds a chain). */
export function tokenKeysFromFiles(keyFile: string, certFile: string): TokenKeys {
  const read = (file: string, name: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${name} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(read(keyFile, 'BERTH_TOKEN_KEY_FILE'));
  } catch (err) {
    throw new Error(`BERTH_TOKEN_KEY_FILE ${keyFile}: not a PEM private key (${(err as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`BERTH_TOKEN_KEY_FILE ${keyFile}: must be an EC P-256 key (tokens are signed ES256)`);
  }
  const certText = read(certFile, 'BERTH_TOKEN_CERT_FILE').toString('utf8');
  const first = certText.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/);
  let cert: X509Certificate;
  try {
    if (!first) throw new Error('no PEM certificate in it');
    cert = new X509Certificate(first[0]);
  } catch (err) {
    throw new Error(`BERTH_TOKEN_CERT_FILE ${certFile}: ${(err as Error).message}`);
  }
  if (!cert.checkPrivateKey(privateKey)) throw new Error(`BERTH_TOKEN_CERT_FILE ${certFile}: is not the certificate of BERTH_TOKEN_KEY_FILE's key`);
  return { privateKey, certDer: cert.raw, certPem: toPem(cert.raw), certPath: certFile, kid: libtrustKeyId(createPublicKey(privateKey)) };
}

/** The generated pair under `<dataDir>/keys` (token.key 0600, token.crt), created on first call. */
export function loadOrCreateTokenKeys(dataDir: string): TokenKeys {
  const dir = path.join(dataDir, 'keys');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = path.join(dir, 'token.key');
  const certPath = path.join(dir, 'token.crt');
  if (!fs.existsSync(keyPath) || !fs.existsSync(certPath)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = selfSignedCertificate(privateKey, 'Berth token signer');
    // Write both to temp names, then rename: a crash never leaves a key without its certificate.
    const tmpKey = `${keyPath}.${process.pid}.tmp`;
    const tmpCert = `${certPath}.${process.pid}.tmp`;
    fs.writeFileSync(tmpKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    fs.writeFileSync(tmpCert, toPem(der), { mode: 0o600 });
    fs.renameSync(tmpCert, certPath);
    fs.renameSync(tmpKey, keyPath);
  }
  fs.chmodSync(keyPath, 0o600);
  fs.chmodSync(certPath, 0o600);
  const privateKey = createPrivateKey(fs.readFileSync(keyPath));
  const certPem = fs.readFileSync(certPath, 'utf8');
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return { privateKey, certDer, certPem, certPath, kid: libtrustKeyId(createPublicKey(privateKey)) };
}

/** libtrust key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, 12 groups of 4 joined by ':'. */
export function libtrustKeyId(pub: KeyObject): string {
  const spki = pub.export({ type: 'spki', format: 'der' });
  const b32 = base32(createHash('sha256').update(spki).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(':');
}

function base32(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

export const toPem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;

// --- a minimal DER encoder: just what an X.509 v3 certificate needs ---

function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const oid = (dotted: string) => {
  const parts = dotted.split('.').map(Number);
  const out = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let v = p >> 7; v > 0; v >>= 7) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
};
const int = (buf: Buffer) => tlv(0x02, buf[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), buf]) : buf);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bitString = (buf: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), buf]));
const octets = (buf: Buffer) => tlv(0x04, buf);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const genTime = (d: Date) => tlv(0x18, Buffer.from(`${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/**
 * A self-signed certificate: by default a CA (basicConstraints CA, keyUsage digitalSignature + keyCertSign) for 20
 * years, which is what the registry trusts for tokens; with `tlsHosts`, a TLS server certificate for those names
 * (subjectAltName, serverAuth) for 2 years, for a first start behind nginx before real certificates are mounted.
 */
export function selfSignedCertificate(key: KeyObject, commonName: string, tlsHosts?: string[]): Buffer {
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))));
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const now = new Date(Date.now() - 60_000);
  const until = new Date(now.getTime() + (tlsHosts ? 2 : 20) * 365 * 86400_000);
  const serial = randomBytes(16);
  // Positive and minimally encoded: a first byte of 0x00 followed by one below 0x80 is a padded INTEGER, which
  // OpenSSL 3 and Go's x509 refuse (one certificate in 128 was unreadable before).
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const skid = createHash('sha1').update(spki).digest();
  const san = (h: string) => (/^[\d.]+$/.test(h) ? tlv(0x87, Buffer.from(h.split('.').map(Number))) : tlv(0x82, Buffer.from(h, 'ascii')));
  const extensions = explicit(
    3,
    tlsHosts
      ? seq(
          seq(oid('2.5.29.19'), bool(true), octets(seq())),
          seq(oid('2.5.29.15'), bool(true), octets(tlv(0x03, Buffer.from([0x07, 0x80])))), // digitalSignature
          seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1')))), // serverAuth
          seq(oid('2.5.29.17'), octets(seq(...tlsHosts.map(san)))),
          seq(oid('2.5.29.14'), octets(octets(skid))),
        )
      : seq(
          seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))),
          seq(oid('2.5.29.15'), bool(true), octets(tlv(0x03, Buffer.from([0x02, 0x84])))), // digitalSignature | keyCertSign
          seq(oid('2.5.29.14'), octets(octets(skid))),
        ),
  );
  const tbs = seq(explicit(0, int(Buffer.from([2]))), int(serial), ECDSA_SHA256, name, seq(genTime(now), genTime(until)), name, spki, extensions);
  const signature = sign('sha256', tbs, { key, dsaEncoding: 'der' });
  return seq(tbs, ECDSA_SHA256, bitString(signature));
}
