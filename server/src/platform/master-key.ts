import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { randomKey } from '../crypto/index.js';
import type { Config } from './config.js';

/**
 * The master key protects the vault. It comes from GATEHOUSE_MASTER_KEY, else from `<dataDir>/master.key`,
 * else it is generated there (mode 0600) on first start, and the server says so once.
 */
export function loadMasterKey(config: Config, log: FastifyBaseLogger): Buffer {
  if (config.masterKeyBase64) {
    const key = Buffer.from(config.masterKeyBase64, 'base64');
    if (key.length !== 32) throw new Error('GATEHOUSE_MASTER_KEY must be 32 bytes, base64-encoded');
    return key;
  }
  const file = path.join(config.dataDir, 'master.key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
    return key;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const key = randomKey(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  log.warn(
    { file },
    'generated a new master key; back this file up (or set GATEHOUSE_MASTER_KEY): without it stored credentials cannot be decrypted',
  );
  return key;
}
