import type { CreateFirstAdminInput, Me, SetupStatus } from '@gatehouse/schema';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emitAudit, emitStandaloneAudit } from '../audit/emit.js';
import { hashPassword } from '../crypto/index.js';
import { type ServiceContext, withTransaction } from '../platform/context.js';
import { DomainError, preconditionFailed, validationFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { InstallationEntity, UserEntity } from './entities.js';
import { passwordPolicyProblems } from './password-policy.js';
import { createPortalSession, describeSession } from './sessions.service.js';

/** Remembers that setup completed. Once true it stays true; until then each check asks the database. */
export class SetupGate {
  private complete = false;

  async isComplete(em: EntityManager): Promise<boolean> {
    if (this.complete) return true;
    const installation = await em.findOne(InstallationEntity, { id: 1 }, { refresh: true });
    this.complete = Boolean(installation?.setupCompletedAt);
    return this.complete;
  }

  markComplete() {
    this.complete = true;
  }
}

export async function getSetupStatus(ctx: ServiceContext, gate: SetupGate): Promise<SetupStatus> {
  return { setupRequired: !(await gate.isComplete(ctx.em)) };
}

/**
 * Creates the first admin and signs them in. Works exactly once: the installation row is locked, so two
 * concurrent attempts cannot both succeed; any later attempt is refused and audited.
 */
export async function createFirstAdmin(
  ctx: ServiceContext,
  input: CreateFirstAdminInput,
  gate: SetupGate,
  client: { userAgent: string },
): Promise<{ token: string; me: Me }> {
  const problems = passwordPolicyProblems(input.password, input.username);
  if (problems) throw validationFailed(problems);
  const passwordHash = await hashPassword(input.password);
  try {
    const result = await withTransaction(ctx, async (tx) => {
      const installation = await tx.em.findOne(
        InstallationEntity,
        { id: 1 },
        { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
      );
      if (!installation || installation.setupCompletedAt) {
        throw preconditionFailed('Setup has already been completed');
      }
      const now = new Date();
      const user = tx.em.create(UserEntity, {
        id: newId('user'),
        username: input.username,
        displayName: input.displayName,
        email: input.email,
        role: 'admin',
        status: 'active',
        passwordHash,
        createdAt: now,
        updatedAt: now,
        lastLoginAt: now,
      });
      installation.setupCompletedAt = now;
      const { token, session } = createPortalSession(tx.em, user, ctx.config, { ip: ctx.ip, ...client });
      await tx.em.flush();
      await emitAudit(
        {
          ...tx,
          actor: {
            type: 'user',
            userId: user.id,
            username: user.username,
            role: 'admin',
            sessionId: session.id,
          },
        },
        { action: 'setup.complete', target: { type: 'user', id: user.id, label: user.username } },
      );
      return { token, me: describeSession(token, session, user, ctx.config) };
    });
    gate.markComplete();
    return result;
  } catch (error) {
    if (error instanceof DomainError && error.code === 'PRECONDITION_FAILED') {
      gate.markComplete();
      await emitStandaloneAudit(ctx, {
        action: 'setup.refused',
        outcome: 'denied',
        reason: 'setup already completed',
        details: { attemptedUsername: input.username },
      });
    }
    throw error;
  }
}
