import type { KillTargetType } from '@gatehouse/schema';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/** One engaged switch per target; releasing deletes it (the audit trail keeps the history). */
export const KillSwitchEntity = defineEntity({
  name: 'KillSwitch',
  tableName: 'kill_switch',
  properties: {
    targetType: p.enum(['mcp', 'client', 'user'] satisfies KillTargetType[]).primary(),
    targetId: p.string().length(48).primary(),
    reason: p.string().length(500),
    killedBy: p.string().length(48),
    killedAt: p.datetime(),
  },
});
export type KillSwitchRow = InferEntity<typeof KillSwitchEntity>;
