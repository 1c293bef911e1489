import type { EngageKillSwitchInput, KillSwitch, ReleaseKillSwitchInput } from '@gatehouse/schema';
import { emitAudit } from '../audit/emit.js';
import { McpServerEntity } from '../catalog/entities.js';
import { ClientEntity } from '../clients/entities.js';
import { UserEntity } from '../identity/entities.js';
import { fenceUser, liftUserFence } from '../identity/user-fence.js';
import type { Change } from '../platform/change-bus.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { conflict, notFound } from '../platform/errors.js';
import type { RuntimeManager } from '../runtime/runtime-manager.js';
import { KillSwitchEntity, type KillSwitchRow } from './entities.js';

const KILL_SWITCH_CHANGE: Change = { kind: 'kill_switches' };

const toKillSwitch = (row: KillSwitchRow): KillSwitch => ({
  targetType: row.targetType,
  targetId: row.targetId,
  reason: row.reason,
  killedBy: row.killedBy,
  killedAt: row.killedAt.toISOString(),
});

async function targetLabel(
  ctx: ServiceContext,
  input: { targetType: string; targetId: string },
): Promise<string> {
  const row =
    input.targetType === 'mcp'
      ? await ctx.em.findOne(McpServerEntity, { id: input.targetId })
      : input.targetType === 'client'
        ? await ctx.em.findOne(ClientEntity, { id: input.targetId })
        : await ctx.em.findOne(UserEntity, { id: input.targetId });
  if (!row)
    throw notFound(
      input.targetType === 'mcp' ? 'MCP' : input.targetType === 'client' ? 'Client' : 'User',
      input.targetId,
    );
  return 'slug' in row ? row.slug : 'username' in row ? row.username : row.name;
}

export async function listKillSwitches(ctx: ServiceContext): Promise<{ items: KillSwitch[] }> {
  requireRole(ctx, 'admin', 'auditor');
  const rows = await ctx.em.find(KillSwitchEntity, {}, { orderBy: { killedAt: 'desc' } });
  return { items: rows.map(toKillSwitch) };
}

/**
 * Refuses the target everywhere from the next request on: a killed MCP vanishes from every session and its
 * instances stop (in-flight calls are cancelled); a killed client or user can no longer authenticate.
 */
export async function engageKillSwitch(
  ctx: ServiceContext,
  runtime: RuntimeManager,
  input: EngageKillSwitchInput,
): Promise<KillSwitch> {
  const actor = requireRole(ctx, 'admin');
  const label = await targetLabel(ctx, input);
  if (await ctx.em.count(KillSwitchEntity, { targetType: input.targetType, targetId: input.targetId })) {
    throw conflict(`${label} is already killed`);
  }
  const engaged = await withTransaction(
    ctx,
    async (tx) => {
      const row = tx.em.create(KillSwitchEntity, {
        targetType: input.targetType,
        targetId: input.targetId,
        reason: input.reason,
        killedBy: actor.userId,
        killedAt: new Date(),
      });
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'kill_switch.engage',
        target: { type: input.targetType, id: input.targetId, label },
        reason: input.reason,
      });
      return toKillSwitch(row);
    },
    KILL_SWITCH_CHANGE,
  );
  const why = `killed by an admin: ${input.reason}`;
  if (input.targetType === 'mcp') await runtime.stopMcp(input.targetId, why);
  if (input.targetType === 'user') await fenceUser(ctx, runtime, input.targetId, why);
  return engaged;
}

export async function releaseKillSwitch(ctx: ServiceContext, input: ReleaseKillSwitchInput): Promise<void> {
  requireRole(ctx, 'admin');
  const label = await targetLabel(ctx, input);
  const userActive = await withTransaction(
    ctx,
    async (tx) => {
      const row = await tx.em.findOne(KillSwitchEntity, {
        targetType: input.targetType,
        targetId: input.targetId,
      });
      if (!row) throw notFound('Kill switch', `${input.targetType}:${input.targetId}`);
      tx.em.remove(row);
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'kill_switch.release',
        target: { type: input.targetType, id: input.targetId, label },
        reason: input.reason,
      });
      if (input.targetType !== 'user') return false;
      return (await tx.em.findOne(UserEntity, { id: input.targetId }))?.status === 'active';
    },
    KILL_SWITCH_CHANGE,
  );
  // A suspended user stays fenced: releasing the kill switch does not reactivate them.
  if (userActive) liftUserFence(ctx, input.targetId);
}
