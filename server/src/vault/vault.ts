import type { EntityManager } from '@mikro-orm/postgresql';
import { deriveSaltedKey, openAesGcm, randomKey, sealAesGcm } from '../crypto/index.js';
import { DomainError } from '../platform/errors.js';
import { VaultSaltEntity } from './entities.js';
import type { Keyring } from './keyring.js';

/** Where a sealed value belongs. All of it is bound into the associated data. */
export interface VaultSlot {
  /** A user id, or an MCP id for an MCP's own secrets. */
  owner: string;
  mcpId: string;
  field: string;
}

const FORMAT = 'v1';
const DATA_KEY_PURPOSE = 'gatehouse-vault-data-key-v1';

const associatedData = (slot: VaultSlot, keyId: string) =>
  [`gatehouse-vault-${FORMAT}`, slot.owner, slot.mcpId, slot.field, keyId].join('\u0000');

export const sealedKeyId = (sealed: string): string => sealed.split(':')[1] ?? '';

/**
 * Seals and opens secret values. Each owner has its own data key, derived by HKDF-SHA256 from a master key
 * version and the owner's random salt; each value is AES-256-GCM with a fresh nonce, bound to its slot and
 * key version. Only the vault's services call `open`.
 */
export class Vault {
  private readonly salts = new Map<string, Buffer>();

  constructor(private readonly keyring: Keyring) {}

  get activeKeyId(): string {
    return this.keyring.active().id;
  }

  async seal(
    em: EntityManager,
    slot: VaultSlot,
    plaintext: string,
  ): Promise<{ sealed: string; keyId: string }> {
    const version = this.keyring.active();
    const dataKey = deriveSaltedKey(version.key, await this.saltOf(em, slot.owner), DATA_KEY_PURPOSE);
    const body = sealAesGcm(dataKey, plaintext, associatedData(slot, version.id));
    return { sealed: `${FORMAT}:${version.id}:${body.toString('base64')}`, keyId: version.id };
  }

  async open(em: EntityManager, slot: VaultSlot, sealed: string): Promise<string> {
    const [format, keyId, body] = sealed.split(':');
    if (format !== FORMAT || !keyId || !body) throw unreadable(slot);
    const version = this.keyring.version(keyId);
    const dataKey = deriveSaltedKey(version.key, await this.saltOf(em, slot.owner), DATA_KEY_PURPOSE);
    try {
      return openAesGcm(dataKey, Buffer.from(body, 'base64'), associatedData(slot, keyId));
    } catch {
      throw unreadable(slot);
    }
  }

  private async saltOf(em: EntityManager, owner: string): Promise<Buffer> {
    const cached = this.salts.get(owner);
    if (cached) return cached;
    // Outside the caller's transaction (committed at once, so a rollback cannot orphan a cached salt), and
    // insert-if-absent then read, so two first seals for the same owner agree on one salt.
    const own = em.fork();
    await own
      .getConnection()
      .execute(
        'insert into vault_salt (owner, salt, created_at) values (?, ?, now()) on conflict (owner) do nothing',
        [owner, randomKey(32).toString('base64')],
        'run',
      );
    const row = await own.findOneOrFail(VaultSaltEntity, { owner });
    const salt = Buffer.from(row.salt, 'base64');
    this.salts.set(owner, salt);
    return salt;
  }
}

/** The message names the slot, never the value or key material. */
const unreadable = (slot: VaultSlot) =>
  new DomainError(
    'INTERNAL',
    `The stored secret "${slot.field}" for MCP ${slot.mcpId} could not be decrypted (tampered, moved or sealed with an unknown key)`,
  );
