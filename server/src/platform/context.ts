import type { Role } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Change, ChangeBus } from './change-bus.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { forbidden, unauthenticated } from './errors.js';

/** Who is acting. Services authorize against this and audit it; they never see the HTTP request. */
export type Actor =
  | { type: 'user'; userId: string; username: string; role: Role; sessionId: string }
  | { type: 'api_token'; tokenId: string; userId: string; username: string; role: Role }
  | { type: 'client'; clientId: string; clientName: string; userId: string; username: string }
  | { type: 'anonymous' }
  | { type: 'system' };

export interface ServiceContext {
  readonly em: EntityManager;
  readonly actor: Actor;
  readonly requestId: string;
  readonly ip: string;
  readonly config: Config;
  /** Services announce committed changes here so caches are never stale on this node. */
  readonly changes: ChangeBus;
  /** Where "now" comes from: audit timestamps, retention and anything else that depends on the time. */
  readonly clock: Clock;
}

export type AuthenticatedActor = Extract<Actor, { type: 'user' | 'api_token' }>;

const roleRank: Record<Role, number> = { user: 0, auditor: 1, admin: 2 };

/** The lower of two roles: an API token never acts above its creator's current role. */
export const lowerRole = (a: Role, b: Role): Role => (roleRank[a] <= roleRank[b] ? a : b);

export function requireAuthenticated(ctx: ServiceContext): AuthenticatedActor {
  if (ctx.actor.type !== 'user' && ctx.actor.type !== 'api_token') throw unauthenticated();
  return ctx.actor;
}

/** Default deny: the actor must hold one of `roles`. */
export function requireRole(ctx: ServiceContext, ...roles: Role[]): AuthenticatedActor {
  const actor = requireAuthenticated(ctx);
  if (!roles.includes(actor.role)) throw forbidden();
  return actor;
}

/**
 * Runs `work` in one transaction with a context whose `em` is the transaction's; after the commit, announces
 * `change` (if given) so caches on this node drop what it touched before the caller sees the result.
 */
export async function withTransaction<T>(
  ctx: ServiceContext,
  work: (tx: ServiceContext) => Promise<T>,
  change?: Change,
): Promise<T> {
  const result = await ctx.em.transactional((em) => work({ ...ctx, em: em as EntityManager }));
  if (change) ctx.changes.publish(change);
  return result;
}

/** For work Gatehouse does on its own (pinning reconciliation, supervision): audited as `system`. */
export const systemContext = (
  em: EntityManager,
  config: Config,
  changes: ChangeBus,
  clock: Clock,
  requestId = '',
): ServiceContext => ({
  em,
  actor: { type: 'system' },
  requestId,
  ip: '',
  config,
  changes,
  clock,
});
