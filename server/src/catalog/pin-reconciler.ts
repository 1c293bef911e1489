import type { PinKind } from '@gatehouse/schema';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type AuditEntry, emitAudit } from '../audit/emit.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { systemContext, withTransaction } from '../platform/context.js';
import type { Orm } from '../platform/db.js';
import type { ToolAndPromptListing } from '../runtime/downstream.js';
import { McpPinEntity, type McpPinRow, McpServerEntity } from './entities.js';
import { type LiveCatalog, pinKey } from './live-catalog.js';
import {
  type Definition,
  definitionHash,
  diffDefinitions,
  listingProblem,
  pinnedDefinition,
} from './pinning.js';

interface Observed {
  kind: PinKind;
  name: string;
  definition: Definition;
  hash: string;
}

const observe = (listing: ToolAndPromptListing): Observed[] =>
  [
    ...listing.tools.map((tool) => ({ kind: 'tool' as const, name: tool.name, item: tool })),
    ...listing.prompts.map((prompt) => ({ kind: 'prompt' as const, name: prompt.name, item: prompt })),
  ].map(({ kind, name, item }) => {
    const definition = pinnedDefinition(kind, item);
    return { kind, name, definition, hash: definitionHash(definition) };
  });

/**
 * Compares a downstream's fresh listing with the approved definitions (rug-pull protection). Unchanged items
 * keep serving; a changed one is quarantined, a new one held, a vanished one marked removed, and one that
 * returns to its approved definition is restored. Each transition is audited as `system` and takes effect
 * at once through the live catalog.
 */
export class PinReconciler {
  constructor(
    private readonly orm: Orm,
    private readonly config: Config,
    private readonly liveCatalog: LiveCatalog,
    private readonly changes: ChangeBus,
    private readonly clock: Clock,
  ) {}

  /**
   * `userId` is set for a per-user instance. Its listing can quarantine or hold items for everyone (a changed
   * definition is suspicious wherever it shows up) but cannot mark items removed: what one user's token
   * shows is not what the server offers.
   */
  async reconcile(
    target: { mcpId: string; versionId: string; userId: string | null },
    listing: ToolAndPromptListing,
  ): Promise<void> {
    const observed = observe(listing);
    const problem = listingProblem(observed);
    if (problem) throw new Error(`the server's listing cannot be checked: ${problem}`);
    if (await this.matchesApproved(target, observed)) return;
    const ctx = systemContext(this.orm.em.fork() as EntityManager, this.config, this.changes, this.clock);
    const changed = await withTransaction(ctx, async (tx) => {
      // Serializes reconciliations (and admin decisions) of one MCP.
      const mcp = await tx.em.findOne(
        McpServerEntity,
        { id: target.mcpId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      // Listings from a retiring or candidate version say nothing about what is live.
      if (!mcp || mcp.liveVersionId !== target.versionId) return false;
      const pins = await tx.em.find(McpPinEntity, { mcp: target.mcpId });
      const byKey = new Map(pins.map((pin) => [pinKey(pin.kind, pin.name), pin]));
      const events: AuditEntry[] = [];
      const now = new Date();
      const event = (action: AuditEntry['action'], pin: McpPinRow, details: Record<string, unknown> = {}) =>
        events.push({
          action,
          target: { type: 'mcp', id: mcp.id, label: mcp.slug },
          details: { kind: pin.kind, name: pin.name, ...details },
        });
      for (const item of observed) {
        const key = pinKey(item.kind, item.name);
        const pin = byKey.get(key);
        byKey.delete(key);
        if (!pin) {
          const held = tx.em.create(McpPinEntity, {
            mcp: mcp.id,
            kind: item.kind,
            name: item.name,
            state: 'new',
            approvedDefinition: null,
            approvedHash: null,
            observedDefinition: item.definition,
            observedHash: item.hash,
            changedAt: now,
            decidedAt: null,
            decidedBy: null,
          });
          event('mcp.pin_new', held, { observedHash: item.hash });
        } else if (pin.approvedHash === item.hash) {
          if (pin.state !== 'approved') {
            tx.em.assign(pin, {
              state: 'approved',
              observedDefinition: null,
              observedHash: null,
              changedAt: now,
            });
            event('mcp.pin_restored', pin, { approvedHash: item.hash });
          }
        } else if (pin.observedHash !== item.hash || pin.state === 'approved' || pin.state === 'removed') {
          const state = pin.approvedHash ? 'changed' : 'new';
          const fields = diffDefinitions(item.kind, pin.approvedDefinition ?? null, item.definition).map(
            (d) => d.field,
          );
          tx.em.assign(pin, {
            state,
            observedDefinition: item.definition,
            observedHash: item.hash,
            changedAt: now,
          });
          event(state === 'changed' ? 'mcp.pin_changed' : 'mcp.pin_new', pin, {
            fields,
            approvedHash: pin.approvedHash,
            observedHash: item.hash,
          });
        }
      }
      for (const pin of target.userId === null ? byKey.values() : []) {
        if (pin.state === 'removed') continue;
        tx.em.assign(pin, { state: 'removed', observedDefinition: null, observedHash: null, changedAt: now });
        event('mcp.pin_removed', pin);
      }
      await tx.em.flush();
      for (const entry of events) await emitAudit(tx, entry);
      return events.length > 0;
    });
    if (changed) this.changes.publish({ kind: 'catalog', mcpId: target.mcpId });
  }

  /** The common case, answered from the cache: every approved item is listed unchanged and nothing else is. */
  private async matchesApproved(target: { mcpId: string; versionId: string }, observed: Observed[]) {
    const live = await this.liveCatalog.get(target.mcpId);
    if (!live || live.versionId !== target.versionId || live.pins.size !== observed.length) return false;
    return observed.every((item) => {
      const pin = live.pins.get(pinKey(item.kind, item.name));
      return pin?.state === 'approved' && pin.approvedHash === item.hash;
    });
  }
}
