import type { InstanceStatus } from '@gatehouse/schema';
import { emitStandaloneAudit } from '../audit/emit.js';
import type { LiveCatalog } from '../catalog/live-catalog.js';
import { requireRole, type ServiceContext } from '../platform/context.js';
import { preconditionFailed } from '../platform/errors.js';
import type { RuntimeManager } from './runtime-manager.js';

export function listInstances(
  ctx: ServiceContext,
  runtime: RuntimeManager,
  mcpId?: string,
): { items: InstanceStatus[] } {
  requireRole(ctx, 'admin', 'auditor');
  return { items: runtime.list(mcpId) };
}

/** Captured stderr, already redacted of the instance's credential values. */
export function instanceLogs(ctx: ServiceContext, runtime: RuntimeManager, key: string) {
  requireRole(ctx, 'admin');
  return {
    key,
    lines: runtime.logs(key).map((line) => ({ at: line.at.toISOString(), text: line.text })),
  };
}

const instanceTarget = (status: InstanceStatus) => ({ type: 'mcp', id: status.mcpId, label: status.slug });

/** Audited before it acts: if the audit record cannot be written, the instance is left alone. */
export async function restartInstance(
  ctx: ServiceContext,
  deps: { runtime: RuntimeManager; liveCatalog: LiveCatalog },
  input: { key: string; reason?: string | undefined },
): Promise<InstanceStatus> {
  requireRole(ctx, 'admin');
  const { runtime } = deps;
  const status = runtime.describe(input.key);
  const live = await deps.liveCatalog.get(status.mcpId);
  if (live?.status !== 'published' || live.versionId !== status.versionId) {
    throw preconditionFailed(
      `Instance "${input.key}" runs a configuration that is no longer live; stop it instead of restarting it`,
    );
  }
  await emitStandaloneAudit(ctx, {
    action: 'runtime.restart',
    target: instanceTarget(status),
    reason: input.reason,
    details: { instance: input.key, userId: status.userId, state: status.state },
  });
  return runtime.restart(input.key, live);
}

export async function stopInstance(
  ctx: ServiceContext,
  runtime: RuntimeManager,
  input: { key: string; reason?: string | undefined },
): Promise<void> {
  requireRole(ctx, 'admin');
  const status = runtime.describe(input.key);
  await emitStandaloneAudit(ctx, {
    action: 'runtime.stop',
    target: instanceTarget(status),
    reason: input.reason,
    details: { instance: input.key, userId: status.userId, state: status.state },
  });
  await runtime.stop(
    input.key,
    input.reason ? `stopped by an admin: ${input.reason}` : 'stopped by an admin',
  );
}
