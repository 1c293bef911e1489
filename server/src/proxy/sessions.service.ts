import type { McpSessionInfo } from '@gatehouse/schema';
import { emitStandaloneAudit } from '../audit/emit.js';
import { requireRole, type ServiceContext } from '../platform/context.js';
import { notFound } from '../platform/errors.js';
import type { McpEndpoint } from './mcp-endpoint.js';

export function listMcpSessions(ctx: ServiceContext, endpoint: McpEndpoint): { items: McpSessionInfo[] } {
  requireRole(ctx, 'admin', 'auditor');
  return { items: endpoint.listSessions() };
}

/** Audited before it acts, like other actions that change no rows. */
export async function terminateMcpSession(
  ctx: ServiceContext,
  endpoint: McpEndpoint,
  input: { id: string; reason?: string | undefined },
): Promise<void> {
  requireRole(ctx, 'admin');
  const session = endpoint.listSessions().find((s) => s.id === input.id);
  if (!session) throw notFound('Session', input.id);
  await emitStandaloneAudit(ctx, {
    action: 'mcp_session.end',
    target: { type: 'client', id: session.clientId, label: session.clientName },
    reason: input.reason,
    details: { session: session.id, terminatedBy: 'admin' },
  });
  await endpoint.terminate(
    input.id,
    input.reason ? `terminated by an admin: ${input.reason}` : 'terminated by an admin',
  );
}
