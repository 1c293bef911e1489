import type { LoginInput, Me } from '@gatehouse/schema';
import { emitAudit, emitStandaloneAudit } from '../audit/emit.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import { hashPassword, passwordHashNeedsRehash, verifyPassword } from '../crypto/index.js';
import { type ServiceContext, withTransaction } from '../platform/context.js';
import { rateLimited, unauthenticated } from '../platform/errors.js';
import { localPasswordsPolicy } from '../sso/settings.service.js';
import { type LoginThrottle, loginLimitReason } from './login-throttle.js';
import {
  createPortalSession,
  describeSession,
  endPortalSession,
  findUserByUsername,
} from './sessions.service.js';

export interface LoginDeps {
  throttle: LoginThrottle;
  /** Throttled attempts are audited aggregated, so a flood cannot fill the trail. */
  refusals: RefusalAudit;
  /** A real Argon2id hash of a random string: unknown users are verified against it so they cost the same. */
  dummyPasswordHash: Promise<string>;
}

const invalidCredentials = () => unauthenticated('Invalid username or password');

/**
 * Password sign-in. Wrong password, unknown user and suspended user all answer the same; each failure is
 * audited (never with the password) and counts toward the sign-in throttles (see `LoginThrottle`).
 */
export async function login(
  ctx: ServiceContext,
  input: LoginInput,
  deps: LoginDeps,
  client: { userAgent: string },
): Promise<{ token: string; me: Me }> {
  // Counted before the password is checked: concurrent guesses cannot all pass a count read earlier.
  const wait = await deps.throttle.attempt(input.username, ctx.ip);
  if (wait.ms > 0) {
    await deps.refusals.record('login_throttled', ctx.ip, ctx.requestId, {
      attemptedUsername: input.username,
      limit: wait.limit,
    });
    const seconds = Math.ceil(wait.ms / 1000);
    throw rateLimited(`Too many failed sign-ins; try again in ${Math.ceil(seconds / 60)} minute(s)`, seconds);
  }

  const user = await findUserByUsername(ctx.em, input.username);
  const passwordOk = await verifyPassword(
    user?.passwordHash ?? (await deps.dummyPasswordHash),
    input.password,
  );
  // With "admins only", a non-admin's password sign-in is refused exactly like a wrong password (ADR 0032).
  const passwordsOff =
    user !== null && user.role !== 'admin' && (await localPasswordsPolicy(ctx.em)) === 'admins_only';
  if (!user || !passwordOk || user.status !== 'active' || passwordsOff) {
    const reason = !user
      ? 'unknown user'
      : !passwordOk
        ? !user.passwordHash
          ? 'no local password (single sign-on account)'
          : 'wrong password'
        : user.status !== 'active'
          ? 'user suspended'
          : 'local passwords are for admins only';
    await emitStandaloneAudit(ctx, {
      action: 'auth.login_failed',
      outcome: 'failure',
      reason,
      target: user ? { type: 'user', id: user.id, label: user.username } : undefined,
      details: { attemptedUsername: input.username },
    });
    for (const limit of deps.throttle.failed(wait)) {
      await emitStandaloneAudit(ctx, {
        action: 'auth.lockout',
        outcome: 'denied',
        reason: loginLimitReason[limit],
        target: user ? { type: 'user', id: user.id, label: user.username } : undefined,
        details: { attemptedUsername: input.username, limit },
      });
    }
    throw invalidCredentials();
  }

  await deps.throttle.recordSuccess(input.username, ctx.ip, wait);
  const rehashed = passwordHashNeedsRehash(user.passwordHash ?? '')
    ? await hashPassword(input.password)
    : undefined;
  return withTransaction(ctx, async (tx) => {
    const managed = tx.em.merge(user);
    if (rehashed) managed.passwordHash = rehashed;
    managed.lastLoginAt = new Date();
    const { token, session } = createPortalSession(tx.em, managed, ctx.config, { ip: ctx.ip, ...client });
    await tx.em.flush();
    await emitAudit(
      {
        ...tx,
        actor: {
          type: 'user',
          userId: user.id,
          username: user.username,
          role: user.role,
          sessionId: session.id,
        },
      },
      {
        action: 'auth.login',
        target: { type: 'user', id: user.id, label: user.username },
        details: rehashed ? { passwordRehashed: true } : {},
      },
    );
    return { token, me: describeSession(token, session, managed, ctx.config) };
  });
}

export async function logout(ctx: ServiceContext, sessionToken: string): Promise<void> {
  await withTransaction(ctx, async (tx) => {
    await endPortalSession(tx.em, sessionToken);
    if (ctx.actor.type === 'user') {
      await emitAudit(tx, {
        action: 'auth.logout',
        target: { type: 'user', id: ctx.actor.userId, label: ctx.actor.username },
      });
    }
  });
}
