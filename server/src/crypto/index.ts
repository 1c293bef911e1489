/**
 * The only module that touches node:crypto. Hashing of high-entropy tokens, random ids and secrets,
 * password hashing (Argon2id), and canonical hashing for the audit chain.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
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
