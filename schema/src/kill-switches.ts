import { z } from 'zod';
import { IsoDateTime, Reason } from './common.js';

export const KillTargetType = z.enum(['mcp', 'client', 'user']);
export type KillTargetType = z.infer<typeof KillTargetType>;

const TargetId = z
  .string()
  .trim()
  .regex(/^(mcp|cli|usr)_[A-Za-z0-9]{10,40}$/, 'an MCP, client or user id');

/** An engaged kill switch: the target is refused everywhere until an admin releases it. */
export const KillSwitch = z.object({
  targetType: KillTargetType,
  targetId: z.string(),
  reason: z.string(),
  killedBy: z.string(),
  killedAt: IsoDateTime,
});
export type KillSwitch = z.infer<typeof KillSwitch>;
export const KillSwitchList = z.object({ items: z.array(KillSwitch) });
export const EngageKillSwitchInput = z.object({
  targetType: KillTargetType,
  targetId: TargetId,
  reason: Reason,
});
export type EngageKillSwitchInput = z.infer<typeof EngageKillSwitchInput>;
export const ReleaseKillSwitchInput = z.object({
  targetType: KillTargetType,
  targetId: TargetId,
  reason: Reason.optional(),
});
export type ReleaseKillSwitchInput = z.infer<typeof ReleaseKillSwitchInput>;
