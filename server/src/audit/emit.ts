import { type AuditAction, AuditDetails, type AuditOutcome } from '@gatehouse/schema';
import type { ServiceContext } from '../platform/context.js';
import { type AuditRecord, appendToChain } from './chain.js';
import { auditWriteFailed } from './unavailable.js';

export interface AuditEntry {
  action: AuditAction;
  outcome?: AuditOutcome;
  target?: { type: string; id: string; label?: string };
  reason?: string;
  /** Non-secret facts about the change (changed field names, new role...). Never passwords, tokens or keys. */
  details?: Record<string, unknown>;
}

const MAX_DETAIL_STRING = 2000;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Storable text: no NUL (PostgreSQL refuses it), no lone surrogates (jsonb refuses them), within `max`. */
function storable(text: string, max: number): string {
  const clean = text.replaceAll('\u0000', '').replace(LONE_SURROGATE, '\uFFFD');
  if (clean.length <= max) return clean;
  // Cut before a surrogate pair rather than through it, which would leave a lone half.
  const cut = /[\uD800-\uDBFF]/.test(clean.charAt(max - 2)) ? max - 2 : max - 1;
  return `${clean.slice(0, cut)}…`;
}

function storableDetails(value: unknown): unknown {
  if (typeof value === 'string') return storable(value, MAX_DETAIL_STRING);
  if (Array.isArray(value)) return value.map(storableDetails);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [storable(key, 128), storableDetails(inner)]),
    );
  }
  return value;
}

/** Details that do not match their action's schema: a bug in the emitter, never written (ADR 0027). */
export class AuditDetailsError extends Error {
  constructor(
    readonly action: AuditAction,
    readonly issues: string[],
  ) {
    super(`audit details of ${action} do not match their schema: ${issues.join('; ')}`);
    this.name = 'AuditDetailsError';
  }
}

function checkedDetails(action: AuditAction, details: Record<string, unknown>): Record<string, unknown> {
  const result = AuditDetails[action].safeParse(details);
  if (!result.success) {
    // Paths and messages only: the values may be whatever a client sent.
    throw new AuditDetailsError(
      action,
      result.error.issues.map((issue) => `${issue.path.join('.') || '(details)'}: ${issue.message}`),
    );
  }
  return details;
}

const optional = (text: string | null | undefined, max: number) => (text ? storable(text, max) : null);

/**
 * One record, made storable whatever the caller (or a client, or a downstream) put in it: a single bad value
 * must never make a batch of other people's records fail. Details of the wrong shape for their action throw
 * `AuditDetailsError` (a bug in the emitter): nothing is written and the caller fails closed.
 */
export function toAuditRecord(
  ctx: Pick<ServiceContext, 'actor' | 'ip' | 'requestId' | 'clock'>,
  entry: AuditEntry,
): AuditRecord {
  const actor = ctx.actor;
  const person = actor.type === 'user' || actor.type === 'api_token' || actor.type === 'client';
  return {
    action: entry.action,
    occurredAt: ctx.clock.now(),
    actorType: actor.type,
    actorUserId: person ? actor.userId : null,
    actorTokenId: actor.type === 'api_token' ? actor.tokenId : null,
    actorClientId: actor.type === 'client' ? actor.clientId : null,
    actorLabel: optional(
      actor.type === 'client' ? `${actor.username}/${actor.clientName}` : person ? actor.username : null,
      128,
    ),
    targetType: entry.target?.type ?? null,
    targetId: optional(entry.target?.id, 128),
    targetLabel: optional(entry.target?.label, 256),
    outcome: entry.outcome ?? 'success',
    reason: optional(entry.reason, 500),
    ip: ctx.ip || null,
    requestId: ctx.requestId || null,
    details: storableDetails(checkedDetails(entry.action, entry.details ?? {})) as Record<string, unknown>,
  };
}

/** Writes the audit event in the caller's transaction: if the audit write fails, the change rolls back. */
export async function emitAudit(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  await appendToChain(ctx.em, [toAuditRecord(ctx, entry)]).catch((error: unknown) => {
    throw auditWriteFailed(error);
  });
}

/** For events that are not part of a mutation (a failed login, a refused setup): its own transaction. */
export async function emitStandaloneAudit(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  // Built first: a record of the wrong shape is the emitter's bug (AuditDetailsError), not an outage.
  const record = toAuditRecord(ctx, entry);
  await ctx.em
    .fork()
    .transactional((em) => appendToChain(em, [record]))
    .catch((error: unknown) => {
      throw auditWriteFailed(error);
    });
}
