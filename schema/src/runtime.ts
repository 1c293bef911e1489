import { z } from 'zod';
import { IsoDateTime, McpId, Reason, UserId } from './common.js';

export const InstanceState = z.enum(['starting', 'ready', 'backoff', 'circuit_open', 'stopping', 'stopped']);
export type InstanceState = z.infer<typeof InstanceState>;

/** What an admin sees about one running (or recently failed) downstream instance. */
export const InstanceStatus = z.object({
  key: z.string(),
  mcpId: McpId,
  slug: z.string(),
  versionId: z.string(),
  /** Set for per-user instances. */
  userId: UserId.nullable(),
  state: InstanceState,
  healthy: z.boolean(),
  pid: z.number().int().nullable(),
  startedAt: IsoDateTime.nullable(),
  uptimeSeconds: z.number().nullable(),
  restarts: z.number().int(),
  consecutiveFailures: z.number().int(),
  nextRestartAt: IsoDateTime.nullable(),
  lastError: z.string().nullable(),
  inFlight: z.number().int(),
  queued: z.number().int(),
  lastUsedAt: IsoDateTime.nullable(),
});
export type InstanceStatus = z.infer<typeof InstanceStatus>;
export const InstanceList = z.object({ items: z.array(InstanceStatus) });
export const ListInstancesInput = z.object({ mcpId: McpId.optional() }).default({});

export const InstanceRef = z.object({ key: z.string().min(1).max(200), reason: Reason.optional() });
export const InstanceLogs = z.object({
  key: z.string(),
  lines: z.array(z.object({ at: IsoDateTime, text: z.string() })),
});
