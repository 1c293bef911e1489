/**
 * The only module that touches node:crypto. Hashing of high-entropy tokens, random ids and secrets,
 * password hashing (Argon2id), canonical hashing for the audit chain, and the AES-GCM sealing the vault uses.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  X509Certificate,
} from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62 text of `byteCount` CSPRNG bytes (32 bytes → 43 characters, 256 bits). */
export function randomBase62(byteCount: number): string {
  let value = BigInt(`0x${randomBytes(byteCount).toString('hex')}`);
  const length = Math.ceil((byteCount * 8) / Math.log2(62));
  let out = '';
  for (let i = 0; i < length; i++) {
    out = BASE62[Number(value % 62n)] + out;
    value /= 62n;
  }
  return out;
}

export const randomKey = (byteCount = 32): Buffer => randomBytes(byteCount);

export const sha256Hex = (value: string | Buffer): string => createHash('sha256').update(value).digest('hex');

/** A 32-byte key for one purpose, derived from the master key (HKDF-SHA256), so purposes never share a key. */
export const deriveKey = (masterKey: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), purpose, 32));

/** HKDF-SHA256 with a salt: per-owner data keys in the vault. */
export const deriveSaltedKey = (masterKey: Buffer, salt: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', masterKey, salt, purpose, 32));

/** A short public name for a key, so stored ciphertexts can say which key sealed them. */
export const keyFingerprint = (key: Buffer): string =>
  createHash('sha256').update(deriveKey(key, 'gatehouse-key-id-v1')).digest('hex').slice(0, 12);

const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;

/**
 * AES-256-GCM with a fresh random 96-bit nonce per call (data keys are per owner, so far below the 2^32
 * messages per key that random nonces allow). Returns nonce ‖ ciphertext ‖ tag.
 */
export function sealAesGcm(key: Buffer, plaintext: string, associatedData: string): Buffer {
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens what `sealAesGcm` sealed; throws when anything (nonce, body, tag, associated data) was changed. */
export function openAesGcm(key: Buffer, sealed: Buffer, associatedData: string): string {
  if (sealed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) throw new Error('sealed value is too short');
  const nonce = sealed.subarray(0, GCM_NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(tag);
  const body = sealed.subarray(GCM_NONCE_BYTES, sealed.length - GCM_TAG_BYTES);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
}

/** PKCE (RFC 7636): a 43-character verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const hmacSha256Hex = (key: Buffer | string, value: string): string =>
  createHmac('sha256', key).update(value).digest('hex');

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** OWASP Argon2id parameters (m=19456 KiB, t=2, p=1). Changing them triggers a rehash at the next login. */
export const passwordHashParameters = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;
const parameterTag = `m=${passwordHashParameters.memoryCost},t=${passwordHashParameters.timeCost},p=${passwordHashParameters.parallelism}`;

export const hashPassword = (password: string): Promise<string> =>
  argon2Hash(password, passwordHashParameters);

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify(passwordHash, password);
  } catch {
    return false;
  }
}

export const passwordHashNeedsRehash = (passwordHash: string): boolean =>
  !passwordHash.startsWith(`$argon2id$v=19$${parameterTag}$`);

/** JSON with object keys sorted at every depth, so equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  // On the audit hot path (every record is hashed): plain loops, and the default sort, which orders by
  // UTF-16 code units like the comparison it replaces, so existing hashes do not change.
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
    first = false;
  }
  return `${out}}`;
}

/** One link of the audit chain: SHA-256 over the previous hash and the canonical row. */
export const chainHash = (prevHash: string, canonicalRow: string): string =>
  createHash('sha256').update(prevHash).update('\n').update(canonicalRow).digest('hex');

/** When a PEM certificate stops being valid. */
export const certificateValidTo = (pem: string): Date => new Date(new X509Certificate(pem).validTo);
