import type {
  ChangePasswordInput,
  ChangePasswordResult,
  EndedSessions,
  EndUserSessionsInput,
  PortalSessionInfo,
} from '@gatehouse/schema';
import { emitAudit, emitStandaloneAudit } from '../audit/emit.js';
import { hashPassword, verifyPassword } from '../crypto/index.js';
import {
  requireAuthenticated,
  requireRole,
  type ServiceContext,
  withTransaction,
} from '../platform/context.js';
import { notFound, rateLimited, validationFailed } from '../platform/errors.js';
import { PortalSessionEntity, type PortalSessionRow, UserEntity } from './entities.js';
import { type LoginThrottle, loginLimitReason } from './login-throttle.js';
import { passwordPolicyProblems } from './password-policy.js';

/** The session making the request, when it is a portal session (an API token has none). */
const currentSessionId = (ctx: ServiceContext) => (ctx.actor.type === 'user' ? ctx.actor.sessionId : null);

/**
 * Changes the caller's own password. The current password is required (a borrowed, unlocked browser is not
 * enough), wrong guesses count toward the sign-in lockout of (account, IP), and the new password must pass
 * the same policy as any other. Every other portal session of the person ends; the one making the change
 * stays signed in. API tokens are not touched (see ADR 0019).
 */
export async function changeOwnPassword(
  ctx: ServiceContext,
  input: ChangePasswordInput,
  deps: { throttle: LoginThrottle },
): Promise<ChangePasswordResult> {
  const actor = requireAuthenticated(ctx);
  // Counted before the password is checked: concurrent guesses cannot all pass a count read earlier.
  const wait = await deps.throttle.attempt(actor.username, ctx.ip);
  if (wait.ms > 0) {
    const seconds = Math.ceil(wait.ms / 1000);
    throw rateLimited(`Too many wrong passwords; try again in ${Math.ceil(seconds / 60)} minute(s)`, seconds);
  }
  const user = await ctx.em.findOneOrFail(
    UserEntity,
    { id: actor.userId },
    { populate: ['passwordHash'], refresh: true },
  );
  const target = { type: 'user', id: user.id, label: user.username };
  if (!user.passwordHash || !(await verifyPassword(user.passwordHash, input.currentPassword))) {
    await emitStandaloneAudit(ctx, {
      action: 'user.change_password',
      outcome: 'failure',
      reason: 'wrong current password',
      target,
    });
    for (const limit of deps.throttle.failed(wait)) {
      await emitStandaloneAudit(ctx, {
        action: 'auth.lockout',
        outcome: 'denied',
        reason: `${loginLimitReason[limit]} (wrong current passwords)`,
        target,
        details: { limit },
      });
    }
    throw validationFailed({ currentPassword: ['is not your current password'] });
  }
  await deps.throttle.recordSuccess(actor.username, ctx.ip, wait);
  if (input.newPassword === input.currentPassword) {
    throw validationFailed({ newPassword: ['must differ from the current password'] });
  }
  const problems = passwordPolicyProblems(input.newPassword, user.username);
  if (problems) throw validationFailed({ newPassword: problems.password ?? [] });
  const passwordHash = await hashPassword(input.newPassword);
  const keep = currentSessionId(ctx);
  return withTransaction(ctx, async (tx) => {
    const endedSessions = await tx.em.nativeDelete(PortalSessionEntity, {
      user: user.id,
      ...(keep && { id: { $ne: keep } }),
    });
    await tx.em.nativeUpdate(UserEntity, { id: user.id }, { passwordHash, updatedAt: new Date() });
    await emitAudit(tx, { action: 'user.change_password', target, details: { endedSessions } });
    return { endedSessions };
  });
}

const isLive = (row: PortalSessionRow, now: number, idleTimeoutSeconds: number) =>
  row.expiresAt.getTime() > now && row.lastSeenAt.getTime() + idleTimeoutSeconds * 1000 > now;

/** The caller's own portal sessions that can still be used, newest first; tokens never leave the server. */
export async function listOwnSessions(ctx: ServiceContext): Promise<{ items: PortalSessionInfo[] }> {
  const actor = requireAuthenticated(ctx);
  const rows = await ctx.em.find(
    PortalSessionEntity,
    { user: actor.userId },
    { orderBy: { lastSeenAt: 'desc', id: 'asc' }, limit: 500 },
  );
  const now = Date.now();
  const current = currentSessionId(ctx);
  return {
    items: rows
      .filter((row) => isLive(row, now, ctx.config.timings.idleTimeoutSeconds))
      .map((row) => ({
        id: row.id,
        createdAt: row.createdAt.toISOString(),
        lastSeenAt: row.lastSeenAt.toISOString(),
        expiresAt: row.expiresAt.toISOString(),
        ip: row.ip,
        userAgent: row.userAgent,
        current: row.id === current,
      })),
  };
}

/** Ends one of the caller's own portal sessions (the current one too: that is a sign-out elsewhere). */
export async function endOwnSession(ctx: ServiceContext, sessionId: string): Promise<void> {
  const actor = requireAuthenticated(ctx);
  await withTransaction(ctx, async (tx) => {
    // Another person's session id answers exactly like an unknown one.
    const ended = await tx.em.nativeDelete(PortalSessionEntity, { id: sessionId, user: actor.userId });
    if (ended === 0) throw notFound('Session', sessionId);
    await emitAudit(tx, {
      action: 'auth.session_end',
      target: { type: 'portal_session', id: sessionId },
      details: { current: sessionId === currentSessionId(ctx) },
    });
  });
}

/** An admin ends every portal session of a user; the user stays active and may sign in again. */
export async function endUserSessions(
  ctx: ServiceContext,
  input: EndUserSessionsInput,
): Promise<EndedSessions> {
  requireRole(ctx, 'admin');
  return withTransaction(ctx, async (tx) => {
    const user = await tx.em.findOne(UserEntity, { id: input.id });
    if (!user) throw notFound('User', input.id);
    const ended = await tx.em.nativeDelete(PortalSessionEntity, { user: user.id });
    await emitAudit(tx, {
      action: 'user.end_sessions',
      target: { type: 'user', id: user.id, label: user.username },
      reason: input.reason,
      details: { ended },
    });
    return { ended };
  });
}
