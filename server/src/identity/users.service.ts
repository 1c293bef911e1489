import type {
  CreateUserInput,
  DeleteUserResult,
  ListUsersInput,
  ResetPasswordInput,
  SuspendUserInput,
  UpdateUserInput,
  User,
} from '@gatehouse/schema';
import type { FilterQuery } from '@mikro-orm/core';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { emitAudit } from '../audit/emit.js';
import { AuditEventEntity } from '../audit/entities.js';
import { hashPassword } from '../crypto/index.js';
import { KillSwitchEntity } from '../kill-switches/entities.js';
import { revokeOAuthGrants } from '../oauth-server/adapter.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { conflict, notFound, preconditionFailed, validationFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { UserEntity, type UserRow } from './entities.js';
import { IDENTITY_CHANGE } from './identity-change.js';
import { toUser } from './mappers.js';
import { passwordPolicyProblems } from './password-policy.js';
import { endSessionsOfUser } from './sessions.service.js';
import { fenceUser, liftUserFence, type UserInstances } from './user-fence.js';

export type { UserInstances } from './user-fence.js';

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

export async function listUsers(
  ctx: ServiceContext,
  input: ListUsersInput,
): Promise<{ items: User[]; total: number }> {
  requireRole(ctx, 'admin', 'auditor');
  const where: FilterQuery<UserRow> = {};
  if (input.role) where.role = input.role;
  if (input.status) where.status = input.status;
  if (input.search) {
    const pattern = `%${escapeLike(input.search)}%`;
    where.$or = [
      { username: { $ilike: pattern } },
      { displayName: { $ilike: pattern } },
      { email: { $ilike: pattern } },
    ];
  }
  const [rows, total] = await ctx.em.findAndCount(UserEntity, where, {
    orderBy: { username: 'asc' },
    limit: input.limit,
    offset: input.offset,
  });
  return { items: rows.map(toUser), total };
}

async function getUserRow(ctx: ServiceContext, id: string): Promise<UserRow> {
  const row = await ctx.em.findOne(UserEntity, { id });
  if (!row) throw notFound('User', id);
  return row;
}

export async function getUser(ctx: ServiceContext, id: string): Promise<User> {
  requireRole(ctx, 'admin', 'auditor');
  return toUser(await getUserRow(ctx, id));
}

const usernameTaken = (username: string) =>
  conflict(`Username "${username}" is already taken`, { username: ['is already taken'] });

export async function createUser(ctx: ServiceContext, input: CreateUserInput): Promise<User> {
  requireRole(ctx, 'admin');
  const problems = passwordPolicyProblems(input.password, input.username);
  if (problems) throw validationFailed(problems);
  if (await ctx.em.count(UserEntity, { username: input.username })) throw usernameTaken(input.username);
  const passwordHash = await hashPassword(input.password);
  try {
    return await withTransaction(
      ctx,
      async (tx) => {
        const now = new Date();
        const user = tx.em.create(UserEntity, {
          id: newId('user'),
          username: input.username,
          displayName: input.displayName,
          email: input.email,
          role: input.role,
          status: 'active',
          passwordHash,
          createdAt: now,
          updatedAt: now,
          lastLoginAt: null,
        });
        await tx.em.flush();
        await emitAudit(tx, {
          action: 'user.create',
          target: { type: 'user', id: user.id, label: user.username },
          details: { role: user.role },
        });
        return toUser(user);
      },
      IDENTITY_CHANGE,
    );
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw usernameTaken(input.username);
    throw error;
  }
}

/** Refuses a change that would leave no active admin: the installation must stay administrable. */
async function assertAnotherActiveAdmin(ctx: ServiceContext, user: UserRow) {
  if (user.role !== 'admin' || user.status !== 'active') return;
  const others = await ctx.em.count(UserEntity, { role: 'admin', status: 'active', id: { $ne: user.id } });
  if (others === 0) throw preconditionFailed('At least one active admin must remain');
}

export async function updateUser(ctx: ServiceContext, input: UpdateUserInput): Promise<User> {
  requireRole(ctx, 'admin');
  return withTransaction(
    ctx,
    async (tx) => {
      const user = await getUserRow(tx, input.id);
      const changed: string[] = [];
      if (input.role !== undefined && input.role !== user.role) {
        if (user.role === 'admin') await assertAnotherActiveAdmin(tx, user);
        changed.push('role');
      }
      if (input.displayName !== undefined && input.displayName !== user.displayName)
        changed.push('displayName');
      if (input.email !== undefined && input.email !== user.email) changed.push('email');
      if (changed.length === 0) return toUser(user);
      const previousRole = user.role;
      tx.em.assign(user, {
        ...(input.displayName !== undefined && { displayName: input.displayName }),
        ...(input.email !== undefined && { email: input.email }),
        ...(input.role !== undefined && { role: input.role }),
        updatedAt: new Date(),
      });
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'user.update',
        target: { type: 'user', id: user.id, label: user.username },
        details: { changed, ...(changed.includes('role') && { fromRole: previousRole, toRole: user.role }) },
      });
      return toUser(user);
    },
    IDENTITY_CHANGE,
  );
}

/** Suspends a user: sessions end in the same transaction, and their per-user instances stop before the answer. */
export async function suspendUser(
  ctx: ServiceContext,
  input: SuspendUserInput,
  instances: UserInstances,
): Promise<User> {
  const actor = requireRole(ctx, 'admin');
  if (actor.userId === input.id) throw preconditionFailed('You cannot suspend yourself');
  const suspended = await withTransaction(
    ctx,
    async (tx) => {
      const user = await getUserRow(tx, input.id);
      if (user.status === 'suspended') return toUser(user);
      await assertAnotherActiveAdmin(tx, user);
      user.status = 'suspended';
      user.updatedAt = new Date();
      await tx.em.flush();
      await endSessionsOfUser(tx.em, user.id);
      // Their OAuth grants end with their sessions (ADR 0034).
      await revokeOAuthGrants(tx.em, { userId: user.id });
      await emitAudit(tx, {
        action: 'user.suspend',
        target: { type: 'user', id: user.id, label: user.username },
        reason: input.reason,
      });
      return toUser(user);
    },
    IDENTITY_CHANGE,
  );
  await fenceUser(ctx, instances, suspended.id, 'the user was suspended');
  return suspended;
}

/** Reactivates a user; their instances may start again unless a user kill switch still holds them. */
export async function reactivateUser(ctx: ServiceContext, id: string): Promise<User> {
  requireRole(ctx, 'admin');
  const { user: reactivated, killed } = await withTransaction(
    ctx,
    async (tx) => {
      const user = await getUserRow(tx, id);
      const killed = (await tx.em.count(KillSwitchEntity, { targetType: 'user', targetId: id })) > 0;
      if (user.status === 'active') return { user: toUser(user), killed };
      user.status = 'active';
      user.updatedAt = new Date();
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'user.reactivate',
        target: { type: 'user', id: user.id, label: user.username },
      });
      return { user: toUser(user), killed };
    },
    IDENTITY_CHANGE,
  );
  if (!killed) liftUserFence(ctx, id);
  return reactivated;
}

/** Sets a new password chosen by an admin and ends the user's sessions. */
export async function resetPassword(ctx: ServiceContext, input: ResetPasswordInput): Promise<User> {
  requireRole(ctx, 'admin');
  const target = await getUserRow(ctx, input.id);
  if (target.ssoProvider) {
    throw preconditionFailed(`${target.username} signs in with single sign-on and has no local password`);
  }
  const problems = passwordPolicyProblems(input.newPassword, target.username);
  if (problems) throw validationFailed({ newPassword: problems.password ?? [] });
  const passwordHash = await hashPassword(input.newPassword);
  return withTransaction(
    ctx,
    async (tx) => {
      const user = await getUserRow(tx, input.id);
      user.passwordHash = passwordHash;
      user.updatedAt = new Date();
      await tx.em.flush();
      await endSessionsOfUser(tx.em, user.id);
      // Whoever knew the old password may have authorized an OAuth client with it: those grants end too.
      await revokeOAuthGrants(tx.em, { userId: user.id });
      await emitAudit(tx, {
        action: 'user.reset_password',
        target: { type: 'user', id: user.id, label: user.username },
      });
      return toUser(user);
    },
    IDENTITY_CHANGE,
  );
}

/**
 * Deletes a user who has never acted (no audit event names them as actor). A user with history is suspended
 * instead, so the trail keeps meaning something.
 */
export async function deleteUser(
  ctx: ServiceContext,
  id: string,
  instances: UserInstances,
): Promise<DeleteUserResult> {
  const actor = requireRole(ctx, 'admin');
  if (actor.userId === id) throw preconditionFailed('You cannot delete yourself');
  const result = await withTransaction(
    ctx,
    async (tx) => {
      const user = await getUserRow(tx, id);
      await assertAnotherActiveAdmin(tx, user);
      const hasHistory = (await tx.em.count(AuditEventEntity, { actorUserId: id })) > 0;
      const target = { type: 'user', id: user.id, label: user.username };
      if (hasHistory) {
        if (user.status !== 'suspended') {
          user.status = 'suspended';
          user.updatedAt = new Date();
          await tx.em.flush();
          await endSessionsOfUser(tx.em, user.id);
          // Their OAuth grants end with their sessions (ADR 0034).
          await revokeOAuthGrants(tx.em, { userId: user.id });
        }
        await emitAudit(tx, {
          action: 'user.delete',
          target,
          details: { result: 'suspended', why: 'user has audit history' },
        });
        return { outcome: 'suspended' as const };
      }
      await revokeOAuthGrants(tx.em, { userId: user.id });
      tx.em.remove(user);
      await tx.em.flush();
      await emitAudit(tx, { action: 'user.delete', target, details: { result: 'deleted' } });
      return { outcome: 'deleted' as const };
    },
    IDENTITY_CHANGE,
  );
  await fenceUser(
    ctx,
    instances,
    id,
    result.outcome === 'deleted' ? 'the user was deleted' : 'the user was suspended',
  );
  return result;
}
