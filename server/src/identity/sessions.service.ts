import type { Me, Role } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import { hmacSha256Hex, randomBase62, sha256Hex } from '../crypto/index.js';
import type { Config } from '../platform/config.js';
import { type Actor, lowerRole, requireAuthenticated, type ServiceContext } from '../platform/context.js';
import { newId } from '../platform/ids.js';
import {
  ApiTokenEntity,
  PortalSessionEntity,
  type PortalSessionRow,
  UserEntity,
  type UserRow,
} from './entities.js';
import { toUser } from './mappers.js';

export const API_TOKEN_PREFIX = 'gh_at_';
/** How stale `last_seen_at` / `last_used_at` may get before a request writes it again. */
const touchIntervalMs = 15_000;

/** The CSRF token is derived from the session token, so it needs no storage and dies with the session. */
export const csrfTokenFor = (sessionToken: string) => hmacSha256Hex(sessionToken, 'gatehouse-csrf-v1');

export interface NewSession {
  token: string;
  session: PortalSessionRow;
}

/** Starts a fresh portal session (a new token at every sign-in; the old one is never reused). */
export function createPortalSession(
  em: EntityManager,
  user: UserRow,
  config: Config,
  client: { ip: string; userAgent: string },
): NewSession {
  const token = randomBase62(32);
  const now = new Date();
  const session = em.create(PortalSessionEntity, {
    id: newId('session'),
    tokenHash: sha256Hex(token),
    user,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: new Date(now.getTime() + config.timings.sessionTtlSeconds * 1000),
    ip: client.ip.slice(0, 64),
    userAgent: client.userAgent.slice(0, 256),
  });
  return { token, session };
}

export function describeSession(token: string, session: PortalSessionRow, user: UserRow, config: Config): Me {
  return {
    user: toUser(user),
    via: 'session',
    csrfToken: csrfTokenFor(token),
    sessionExpiresAt: session.expiresAt.toISOString(),
    idleTimeoutSeconds: config.timings.idleTimeoutSeconds,
  };
}

export interface ResolvedSession {
  actor: Extract<Actor, { type: 'user' }>;
  session: PortalSessionRow;
  user: UserRow;
}

/**
 * Re-checks a portal session on every request: absolute expiry, idle expiry, and the user's *current* status
 * and role, so suspension or demotion applies on the very next request.
 */
export async function resolvePortalSession(
  em: EntityManager,
  token: string,
  config: Config,
): Promise<ResolvedSession | undefined> {
  const session = await em.findOne(
    PortalSessionEntity,
    { tokenHash: sha256Hex(token) },
    { populate: ['user'], refresh: true },
  );
  if (!session) return undefined;
  const now = Date.now();
  const idleLimit = session.lastSeenAt.getTime() + config.timings.idleTimeoutSeconds * 1000;
  const user = session.user;
  if (now >= session.expiresAt.getTime() || now >= idleLimit || user.status !== 'active') {
    await em.nativeDelete(PortalSessionEntity, { id: session.id });
    return undefined;
  }
  if (now - session.lastSeenAt.getTime() > touchIntervalMs) {
    session.lastSeenAt = new Date(now);
    await em.nativeUpdate(PortalSessionEntity, { id: session.id }, { lastSeenAt: session.lastSeenAt });
  }
  return {
    actor: { type: 'user', userId: user.id, username: user.username, role: user.role, sessionId: session.id },
    session,
    user,
  };
}

export async function endPortalSession(em: EntityManager, token: string): Promise<void> {
  await em.nativeDelete(PortalSessionEntity, { tokenHash: sha256Hex(token) });
}

/** Ends every portal session of a user (suspension, password reset). */
export async function endSessionsOfUser(em: EntityManager, userId: string): Promise<void> {
  await em.nativeDelete(PortalSessionEntity, { user: userId });
}

/**
 * Resolves an admin API token. Revoked, expired, unknown tokens and tokens of suspended creators all
 * resolve to nothing alike. The token acts with the lower of its own role and its creator's current role.
 */
export async function resolveApiToken(
  em: EntityManager,
  token: string,
): Promise<Extract<Actor, { type: 'api_token' }> | undefined> {
  if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 128) return undefined;
  const row = await em.findOne(
    ApiTokenEntity,
    { tokenHash: sha256Hex(token) },
    { populate: ['createdBy'], refresh: true },
  );
  const now = Date.now();
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) return undefined;
  const creator = row.createdBy as UserRow;
  if (creator.status !== 'active') return undefined;
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > touchIntervalMs) {
    await em.nativeUpdate(ApiTokenEntity, { id: row.id }, { lastUsedAt: new Date(now) });
  }
  const role: Role = lowerRole(row.role, creator.role);
  return { type: 'api_token', tokenId: row.id, userId: creator.id, username: creator.username, role };
}

export const findUserByUsername = (em: EntityManager, username: string) =>
  em.findOne(UserEntity, { username }, { populate: ['passwordHash'] });

/**
 * `auth.me`: the current user; for a portal session (already resolved for this request) also its CSRF
 * token and expiry.
 */
export async function describeCurrentPrincipal(
  ctx: ServiceContext,
  portalSession?: { token: string; resolved: ResolvedSession },
): Promise<Me> {
  const actor = requireAuthenticated(ctx);
  if (portalSession) {
    const { session, user } = portalSession.resolved;
    return describeSession(portalSession.token, session, user, ctx.config);
  }
  const user = await ctx.em.findOneOrFail(UserEntity, { id: actor.userId });
  return {
    user: toUser(user),
    via: 'api_token',
    csrfToken: null,
    sessionExpiresAt: null,
    idleTimeoutSeconds: null,
  };
}
