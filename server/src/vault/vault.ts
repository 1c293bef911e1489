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

/** Why a stored value could not be opened; never anything about the value itself. */
export type UnreadableReason = 'malformed' | 'unknown key' | 'retired key' | 'tampered or moved';

export interface VaultHooks {
  /** A stored value failed to open: a security event (tampering, a swapped row, a retired key in use). */
  onUnreadable?(slot: VaultSlot, why: UnreadableReason, sealed: string): Promise<void>;
}

/**
 * Seals and opens secret values. Each owner has its own data key, derived by HKDF-SHA256 from a master key
 * version and the owner's random salt; each value is AES-256-GCM with a fresh nonce, bound to its slot and
 * key version. Only the vault's services call `open`.
 */
export class Vault {
  private readonly salts = new Map<string, Buffer>();

  constructor(
    private readonly keyring: Keyring,
    private readonly hooks: VaultHooks = {},
  ) {}

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

  /**
   * Opens a sealed value. A key retired in PostgreSQL (`gatehouse vault retire`, by any process) is refused
   * at once, even while this process still holds it: one primary-key lookup per opened value, which only
   * happens where a row was just read (spawn, OAuth refresh), never on a warm tool call.
   */
  async open(em: EntityManager, slot: VaultSlot, sealed: string): Promise<string> {
    const [format, keyId, body] = sealed.split(':');
    if (format !== FORMAT || !keyId || !body) return this.refuse(slot, 'malformed', sealed);
    if (await isRetired(em, keyId)) return this.refuse(slot, 'retired key', sealed);
    const version = this.keyring.knownVersion(keyId);
    if (!version) return this.refuse(slot, 'unknown key', sealed);
    const dataKey = deriveSaltedKey(version.key, await this.saltOf(em, slot.owner), DATA_KEY_PURPOSE);
    try {
      return openAesGcm(dataKey, Buffer.from(body, 'base64'), associatedData(slot, keyId));
    } catch {
      return this.refuse(slot, 'tampered or moved', sealed);
    }
  }

  /** Why (and which key) goes to the audit trail through the hook; the caller only learns that it failed. */
  private async refuse(slot: VaultSlot, why: UnreadableReason, sealed: string): Promise<never> {
    await this.hooks.onUnreadable?.(slot, why, sealed);
    throw unreadable(slot);
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

async function isRetired(em: EntityManager, keyId: string): Promise<boolean> {
  // In the caller's transaction when there is one (rotation), so it never takes a second connection.
  const rows = await em
    .getConnection()
    .execute<unknown[]>(
      'select 1 from vault_retired_key where key_id = ?',
      [keyId],
      'all',
      em.getTransactionContext(),
    );
  return rows.length > 0;
}

/**
 * Transports pass domain error messages through, so this one is generic: it names the field the caller would
 * enter again, never the key id, the reason or anything of the value (those are in `vault.decrypt_failed`).
 */
const unreadable = (slot: VaultSlot) =>
  new DomainError(
    'INTERNAL',
    `The stored secret "${slot.field}" could not be decrypted; enter it again, or ask an admin (the audit trail has the details)`,
  );
