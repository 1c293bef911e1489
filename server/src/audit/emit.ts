import type { AuditAction, AuditOutcome } from '@gatehouse/schema';
import type { ServiceContext } from '../platform/context.js';
import { type AuditRecord, appendToChain } from './chain.js';

export interface AuditEntry {
  action: AuditAction;
  outcome?: AuditOutcome;
  target?: { type: string; id: string; label?: string };
  reason?: string;
  /** Non-secret facts about the change (changed field names, new role...). Never passwords, tokens or keys. */
  details?: Record<string, unknown>;
}

export function toAuditRecord(ctx: ServiceContext, entry: AuditEntry): AuditRecord {
  const actor = ctx.actor;
  const person = actor.type === 'user' || actor.type === 'api_token' || actor.type === 'client';
  return {
    action: entry.action,
    occurredAt: new Date(),
    actorType: actor.type,
    actorUserId: person ? actor.userId : null,
    actorTokenId: actor.type === 'api_token' ? actor.tokenId : null,
    actorClientId: actor.type === 'client' ? actor.clientId : null,
    actorLabel:
      actor.type === 'client' ? `${actor.username}/${actor.clientName}` : person ? actor.username : null,
    targetType: entry.target?.type ?? null,
    targetId: entry.target?.id ?? null,
    targetLabel: entry.target?.label ?? null,
    outcome: entry.outcome ?? 'success',
    reason: entry.reason ?? null,
    ip: ctx.ip || null,
    requestId: ctx.requestId || null,
    details: entry.details ?? {},
  };
}

/** Writes the audit event in the caller's transaction: if the audit write fails, the change rolls back. */
export async function emitAudit(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  await appendToChain(ctx.em, [toAuditRecord(ctx, entry)]);
}

/** For events that are not part of a mutation (a failed login, a refused setup): its own transaction. */
export async function emitStandaloneAudit(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  await ctx.em.fork().transactional((em) => appendToChain(em, [toAuditRecord(ctx, entry)]));
}
