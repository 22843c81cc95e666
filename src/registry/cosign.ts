import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { isDigest } from './reference.js';

/** The layer media type of a cosign signature's payload, and the annotation holding its signature. */
export const SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export type KeyAlgorithm = 'ecdsa-p256' | 'ed25519';

export interface SignatureKey {
  name: string;
  key: KeyObject;
  algorithm: KeyAlgorithm;
}

/**
 * Parses a cosign public key (PEM SubjectPublicKeyInfo, as `cosign generate-key-pair` writes `cosign.pub`). Only the
 * two algorithms cosign keys use here are accepted: ECDSA on P-256 and Ed25519. Throws with a readable reason.
 */
export function parsePublicKey(pem: string): { key: KeyObject; algorithm: KeyAlgorithm; pem: string } {
  if (!/^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/.test(`${pem.trim()}\n`)) throw new Error('not a PEM public key (-----BEGIN PUBLIC KEY-----)');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('the PEM does not hold a readable public key');
  }
  const normal = key.export({ type: 'spki', format: 'pem' }).toString();
  if (key.asymmetricKeyType === 'ed25519') return { key, algorithm: 'ed25519', pem: normal };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, algorithm: 'ecdsa-p256', pem: normal };
  throw new Error(`unsupported key type ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}: use ECDSA P-256 or Ed25519`);
}

/** The manifest digest a simple-signing payload vouches for (`critical.image.docker-manifest-digest`), or null. */
export function payloadDigest(payload: Buffer): string | null {
  try {
    const doc = JSON.parse(payload.toString('utf8')) as { critical?: { image?: { 'docker-manifest-digest'?: unknown }; type?: unknown } };
    const d = doc.critical?.image?.['docker-manifest-digest'];
    return typeof d === 'string' && isDigest(d) ? d : null;
  } catch {
    return null;
  }
}

/**
 * The names of the keys under which a cosign simple-signing signature is valid for `subjectDigest`
 * (sigstore/cosign specs/SIGNATURE_SPEC.md): the payload must name exactly that manifest digest, and the base64
 * signature must verify over the payload bytes — ECDSA P-256 with SHA-256 (ASN.1 DER signature), or Ed25519.
 */
export function verifySimpleSigning(payload: Buffer, signatureB64: string, subjectDigest: string, keys: SignatureKey[]): string[] {
  if (payloadDigest(payload) !== subjectDigest) return [];
  if (!/^[A-Za-z0-9+/=\s]{1,2048}$/.test(signatureB64)) return [];
  const sig = Buffer.from(signatureB64, 'base64');
  if (!sig.length) return [];
  const names: string[] = [];
  for (const k of keys) {
    try {
      const ok = k.algorithm === 'ed25519' ? verify(null, payload, k.key, sig) : verify('sha256', payload, k.key, sig);
      if (ok) names.push(k.name);
    } catch {
      /* a malformed signature verifies under no key */
    }
  }
  return names;
}
