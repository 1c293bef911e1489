import type { LocalPasswords } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emitAudit } from '../audit/emit.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { PortalSettingEntity } from './entities.js';

/** Who may sign in with a local password (the row is seeded by migration 0013). */
export async function localPasswordsPolicy(em: EntityManager): Promise<LocalPasswords> {
  const row = await em.findOne(PortalSettingEntity, { id: 1 }, { refresh: true });
  return row?.localPasswords ?? 'everyone';
}

export async function getLocalPasswords(ctx: ServiceContext): Promise<{ localPasswords: LocalPasswords }> {
  requireRole(ctx, 'admin', 'auditor');
  return { localPasswords: await localPasswordsPolicy(ctx.em) };
}

/** "Admins only" keeps local passwords for break-glass admins and turns them off for everyone else. */
export async function setLocalPasswords(
  ctx: ServiceContext,
  input: { localPasswords: LocalPasswords },
): Promise<{ localPasswords: LocalPasswords }> {
  requireRole(ctx, 'admin');
  return withTransaction(ctx, async (tx) => {
    const row = await tx.em.findOneOrFail(PortalSettingEntity, { id: 1 });
    const from = row.localPasswords;
    if (from !== input.localPasswords) {
      row.localPasswords = input.localPasswords;
      row.updatedAt = ctx.clock.now();
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'auth.local_passwords_set',
        details: { from, to: input.localPasswords },
      });
    }
    return { localPasswords: input.localPasswords };
  });
}
