import type { VaultStatus } from '@gatehouse/schema';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emitAudit } from '../audit/emit.js';
import { resealServerSecrets } from '../oauth-server/keys.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import { StoredCredentialEntity } from './entities.js';
import type { Keyring } from './keyring.js';
import type { Vault } from './vault.js';

const BATCH = 200;

export interface RotationOptions {
  /** Add a new active key first (file keyring); without it, finish moving everything to the active key. */
  addKey: boolean;
  batchSize?: number;
  /** Called after each committed batch with the running count; an error thrown here stops the rotation. */
  afterBatch?: (reencrypted: number) => void | Promise<void>;
}

export interface RotationResult {
  activeKeyId: string;
  reencrypted: number;
  /** Secrets still on other keys: rows that were locked by a concurrent edit; run the rotation again. */
  remaining: number;
}

/**
 * Counts of stored secrets per key id, for `vault status` and retirement (in `em`'s transaction, if any): the
 * credentials and the authorization server's own keys (ADR 0034).
 */
async function sealedByKey(em: EntityManager): Promise<Record<string, number>> {
  const rows = await em.getConnection().execute<{ key_id: string; count: string }[]>(
    `select key_id, count(*) from (
       select key_id from vault_credential
       union all select split_part(sealed, ':', 2) as key_id from oauth_server_secret
     ) sealed group by key_id order by key_id`,
    [],
    'all',
    em.getTransactionContext(),
  );
  return Object.fromEntries(rows.map((row) => [row.key_id, Number(row.count)]));
}

export async function vaultStatus(ctx: ServiceContext, keyring: Keyring): Promise<VaultStatus> {
  // The CLI runs as `system`; over the API only admins and auditors see key ids.
  if (ctx.actor.type !== 'system') requireRole(ctx, 'admin', 'auditor');
  const { active, all } = keyring.ids();
  return { activeKeyId: active, keyIds: all, sealedByKey: await sealedByKey(ctx.em) };
}

/**
 * Re-seals every stored secret with the active key, in batches of one transaction each. Rows are taken with
 * `FOR UPDATE SKIP LOCKED`, so a concurrent edit is never overwritten, and readers keep working because every
 * known key still opens what it sealed. Interrupted, it resumes where it stopped: run it again.
 */
export async function rotateVault(
  ctx: ServiceContext,
  keyring: Keyring,
  vault: Vault,
  options: RotationOptions,
): Promise<RotationResult> {
  if (options.addKey) {
    const previous = keyring.ids().active;
    const added = keyring.addVersion();
    await withTransaction(ctx, (tx) =>
      emitAudit(tx, {
        action: 'vault.rotate',
        target: { type: 'vault_key', id: added },
        details: { phase: 'key_added', activeKeyId: added, previousKeyId: previous },
      }),
    );
  }
  const activeKeyId = vault.activeKeyId;
  let reencrypted = 0;
  for (;;) {
    const moved = await withTransaction(ctx, async (tx) => {
      const rows = await tx.em.find(
        StoredCredentialEntity,
        { keyId: { $ne: activeKeyId } },
        {
          limit: options.batchSize ?? BATCH,
          orderBy: { id: 'asc' },
          lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE,
        },
      );
      for (const row of rows) {
        const slot = { owner: row.owner, mcpId: row.mcp.id, field: row.field };
        const { sealed, keyId } = await vault.seal(tx.em, slot, await vault.open(tx.em, slot, row.sealed));
        row.sealed = sealed;
        row.keyId = keyId;
      }
      await tx.em.flush();
      return rows.length;
    });
    if (moved === 0) break;
    reencrypted += moved;
    await options.afterBatch?.(reencrypted);
  }
  // The authorization server's signing and cookie keys: a handful of rows, one transaction.
  const servers = await withTransaction(ctx, (tx) => resealServerSecrets(tx.em, vault));
  if (servers > 0) {
    reencrypted += servers;
    await options.afterBatch?.(reencrypted);
  }
  await withTransaction(ctx, (tx) =>
    emitAudit(tx, {
      action: 'vault.rotate',
      target: { type: 'vault_key', id: activeKeyId },
      details: { phase: 'finished', activeKeyId, reencrypted },
    }),
  );
  const counts = await sealedByKey(ctx.em);
  const remaining = Object.entries(counts)
    .filter(([keyId]) => keyId !== activeKeyId)
    .reduce((sum, [, count]) => sum + count, 0);
  return { activeKeyId, reencrypted, remaining };
}

/**
 * Retires a key version once no stored secret refers to it: recorded in PostgreSQL first (with its audit
 * event, in one transaction), so every running server refuses the key from that commit on, then removed
 * from the keyring file. Run again after an interruption: both steps are idempotent.
 */
export async function retireKey(ctx: ServiceContext, keyring: Keyring, keyId: string): Promise<void> {
  if (!keyring.managesKeys) {
    throw new DomainError(
      'CONFLICT',
      'The master keys come from GATEHOUSE_MASTER_KEY; to retire a key, remove it from ' +
        'GATEHOUSE_MASTER_KEYS_PREVIOUS and restart',
    );
  }
  const { active, all } = keyring.ids();
  if (keyId === active) throw new DomainError('CONFLICT', 'The active key cannot be retired');
  if (!all.includes(keyId)) throw new DomainError('NOT_FOUND', `No key ${keyId}`);
  await withTransaction(ctx, async (tx) => {
    // The count and the retirement are one step: SHARE mode waits for every transaction that is writing a
    // secret (a replica whose keyring has not seen the newest key may be sealing with this one) and holds
    // new writes off until the commit, so no value sealed with the key can land between the two.
    await tx.em
      .getConnection()
      .execute(
        'lock table vault_credential, oauth_server_secret in share mode',
        [],
        'run',
        tx.em.getTransactionContext(),
      );
    const counts = await sealedByKey(tx.em);
    if ((counts[keyId] ?? 0) > 0) {
      throw new DomainError(
        'CONFLICT',
        `Key ${keyId} still seals ${counts[keyId]} secret(s); run "gatehouse vault rotate --resume" first`,
      );
    }
    await tx.em
      .getConnection()
      .execute(
        'insert into vault_retired_key (key_id, retired_at) values (?, now()) on conflict (key_id) do nothing',
        [keyId],
        'run',
        tx.em.getTransactionContext(),
      );
    await emitAudit(tx, {
      action: 'vault.retire_key',
      target: { type: 'vault_key', id: keyId },
      details: {},
    });
  });
  keyring.removeVersion(keyId);
}
