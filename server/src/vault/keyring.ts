import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import { keyFingerprint, randomKey } from '../crypto/index.js';
import type { Config } from '../platform/config.js';
import { DomainError } from '../platform/errors.js';

export interface KeyVersion {
  /** Public fingerprint of the key (12 hex characters); stored next to every ciphertext. */
  readonly id: string;
  readonly key: Buffer;
}

const KeyringFile = z.object({
  active: z.string(),
  keys: z.array(z.object({ id: z.string(), key: z.string(), createdAt: z.string() })).min(1),
});
type KeyringFile = z.infer<typeof KeyringFile>;

function decodeKey(base64: string, where: string): Buffer {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== 32) throw new Error(`${where} must be 32 bytes, base64-encoded`);
  return key;
}

/**
 * The master keys: one active version that seals, and older versions that still open what they sealed.
 *
 * With `GATEHOUSE_MASTER_KEY` the keys come from the environment (`GATEHOUSE_MASTER_KEYS_PREVIOUS` for older
 * versions) and rotation is the operator's: set the new key, move the old one to the previous list, restart,
 * then run `gatehouse vault rotate`. Otherwise they live in `<data dir>/keyring.json` (mode 0600), generated
 * on first start; `gatehouse vault rotate` adds a version there, and a running server picks it up when the
 * file changes.
 */
export class Keyring {
  private versions = new Map<string, KeyVersion>();
  private activeId = '';
  private fileStamp = '';

  private constructor(
    private readonly file: string | undefined,
    private readonly log: FastifyBaseLogger,
  ) {}

  static load(config: Config, log: FastifyBaseLogger): Keyring {
    if (config.masterKeyBase64) {
      const ring = new Keyring(undefined, log);
      const active = decodeKey(config.masterKeyBase64, 'GATEHOUSE_MASTER_KEY');
      ring.activeId = keyFingerprint(active);
      for (const key of [
        active,
        ...config.previousMasterKeysBase64.map((k) => decodeKey(k, 'GATEHOUSE_MASTER_KEYS_PREVIOUS')),
      ]) {
        ring.versions.set(keyFingerprint(key), { id: keyFingerprint(key), key });
      }
      return ring;
    }
    const ring = new Keyring(path.join(config.dataDir, 'keyring.json'), log);
    ring.createIfMissing(config.dataDir);
    ring.readFile();
    return ring;
  }

  /** Whether `gatehouse vault rotate` may add versions (file keyring) or the operator must (environment). */
  get managesKeys(): boolean {
    return this.file !== undefined;
  }

  active(): KeyVersion {
    this.refresh();
    const active = this.versions.get(this.activeId);
    if (!active) throw new Error('the active master key is missing from the keyring');
    return active;
  }

  /**
   * The version that sealed a value, or undefined when this keyring does not hold it; a keyring file changed
   * by another process is re-read once. Retirement is decided in PostgreSQL, not here (see `Vault.open`).
   */
  knownVersion(id: string): KeyVersion | undefined {
    if (!this.versions.has(id)) this.refresh();
    return this.versions.get(id);
  }

  ids(): { active: string; all: string[] } {
    this.refresh();
    return { active: this.activeId, all: [...this.versions.keys()] };
  }

  /** Adds a new active version to the keyring file. */
  addVersion(): string {
    const contents = this.requireFile('add a key');
    const key = randomKey(32);
    const id = keyFingerprint(key);
    contents.keys.push({ id, key: key.toString('base64'), createdAt: new Date().toISOString() });
    contents.active = id;
    this.writeFile(contents);
    return id;
  }

  /** Removes a version that nothing references any more; the caller checks that. */
  removeVersion(id: string): void {
    const contents = this.requireFile('retire a key');
    if (id === contents.active) throw new DomainError('CONFLICT', 'The active key cannot be retired');
    if (!contents.keys.some((entry) => entry.id === id)) throw new DomainError('NOT_FOUND', `No key ${id}`);
    contents.keys = contents.keys.filter((entry) => entry.id !== id);
    this.writeFile(contents);
  }

  private requireFile(action: string): KeyringFile {
    if (!this.file) {
      throw new DomainError(
        'CONFLICT',
        `The master keys come from GATEHOUSE_MASTER_KEY; to ${action}, change GATEHOUSE_MASTER_KEY and ` +
          'GATEHOUSE_MASTER_KEYS_PREVIOUS and restart',
      );
    }
    return KeyringFile.parse(JSON.parse(readFileSync(this.file, 'utf8')));
  }

  private createIfMissing(dataDir: string): void {
    if (!this.file || existsSync(this.file)) return;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // A data dir from before the keyring held a single `master.key`: it becomes the first version.
    const legacy = path.join(dataDir, 'master.key');
    const key = existsSync(legacy) ? decodeKey(readFileSync(legacy, 'utf8'), legacy) : randomKey(32);
    const id = keyFingerprint(key);
    this.writeFile({
      active: id,
      keys: [{ id, key: key.toString('base64'), createdAt: new Date().toISOString() }],
    });
    if (!existsSync(legacy)) {
      this.log.warn(
        { file: this.file },
        'generated a new master key; back this file up (or set GATEHOUSE_MASTER_KEY): without it stored credentials cannot be decrypted',
      );
    }
  }

  private writeFile(contents: KeyringFile): void {
    if (!this.file) return;
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.file);
    this.readFile();
  }

  private refresh(): void {
    if (!this.file) return;
    const stat = statSync(this.file);
    if (`${stat.mtimeMs}:${stat.size}:${stat.ino}` !== this.fileStamp) this.readFile();
  }

  private readFile(): void {
    if (!this.file) return;
    const stat = statSync(this.file);
    const contents = KeyringFile.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    const versions = new Map<string, KeyVersion>();
    for (const entry of contents.keys) {
      const key = decodeKey(entry.key, this.file);
      if (keyFingerprint(key) !== entry.id)
        throw new Error(`${this.file}: key ${entry.id} does not match its id`);
      versions.set(entry.id, { id: entry.id, key });
    }
    if (!versions.has(contents.active))
      throw new Error(`${this.file}: the active key ${contents.active} is missing`);
    this.versions = versions;
    this.activeId = contents.active;
    this.fileStamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
  }
}
