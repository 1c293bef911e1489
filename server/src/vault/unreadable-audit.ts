import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { emitStandaloneAudit } from '../audit/emit.js';
import { sha256Hex } from '../crypto/index.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { systemContext } from '../platform/context.js';
import { sealedKeyId, type VaultHooks } from './vault.js';

/** Distinct failures remembered, so a tampered value retried by every call is audited once, not per call. */
const REMEMBERED = 10_000;

/**
 * Audits a value that failed to open as `vault.decrypt_failed`: owner, MCP, field, the key id it names, and
 * why (tampered or moved ciphertext, unknown or retired key); never the value or any other part of the
 * ciphertext. Each distinct
 * (slot, ciphertext, reason) is recorded once per process; a changed row or a new reason is recorded again.
 * If the audit itself cannot be written, the failure is logged and the open still fails.
 */
export function auditUnreadableValues(deps: {
  em: () => EntityManager;
  config: Config;
  changes: ChangeBus;
  clock: Clock;
  log: Logger;
}): Required<VaultHooks> {
  const seen = new Set<string>();
  return {
    async onUnreadable(slot, why, sealed) {
      const key = sha256Hex([slot.owner, slot.mcpId, slot.field, why, sealed].join('\u0000'));
      if (seen.has(key)) return;
      if (seen.size >= REMEMBERED) seen.clear();
      seen.add(key);
      const ctx = systemContext(deps.em(), deps.config, deps.changes, deps.clock);
      await emitStandaloneAudit(ctx, {
        action: 'vault.decrypt_failed',
        outcome: 'failure',
        target: { type: 'mcp', id: slot.mcpId },
        reason: why,
        // The key id is a public fingerprint (also in `vault.rotate`), never key material.
        details: { owner: slot.owner, mcpId: slot.mcpId, field: slot.field, keyId: sealedKeyId(sealed) },
      }).catch((error: unknown) => {
        seen.delete(key);
        deps.log.error(
          { err: error, mcpId: slot.mcpId, field: slot.field },
          'could not audit a decryption failure',
        );
      });
    },
  };
}
