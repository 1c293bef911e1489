import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type LiveCatalog, type LiveMcp, pinKey } from '../catalog/live-catalog.js';
import { DomainError, notFound } from '../platform/errors.js';
import type { CallOptions } from './instance.js';
import type { RuntimeManager } from './runtime-manager.js';

const refused = (message: string) => new DomainError('FORBIDDEN', message);

/** Why a tool of a live MCP may not be called right now, or null when it may. */
export function toolRefusal(live: LiveMcp, tool: string): string | null {
  if (live.status !== 'published') return `MCP "${live.slug}" is archived`;
  const pin = live.pins.get(pinKey('tool', tool));
  switch (pin?.state) {
    case 'approved':
      return null;
    case 'changed':
      return `Tool "${tool}" of MCP "${live.slug}" is quarantined: its definition changed after an admin approved it, and an admin must review the change`;
    case 'new':
      return `Tool "${tool}" of MCP "${live.slug}" is new and held until an admin approves it`;
    case 'rejected':
      return `Tool "${tool}" of MCP "${live.slug}" was rejected by an admin after its definition changed`;
    case 'removed':
      return `Tool "${tool}" of MCP "${live.slug}" is no longer offered by the server`;
    default:
      return `MCP "${live.slug}" has no tool "${tool}"`;
  }
}

/**
 * Calls an approved tool of a published MCP on the right instance (shared, or the user's own). This is the
 * runtime half of the tool-call path; the MCP endpoint adds authentication, authorization and audit in front.
 */
export async function invokeTool(
  deps: { liveCatalog: LiveCatalog; runtime: RuntimeManager },
  request: { mcpId: string; userId: string; tool: string; args: Record<string, unknown> },
  options?: CallOptions,
): Promise<CallToolResult> {
  const live = await deps.liveCatalog.get(request.mcpId);
  if (!live) throw notFound('MCP', request.mcpId);
  // Archived MCPs and tools it never offered are refused without touching any process.
  if (live.status !== 'published' || !live.pins.has(pinKey('tool', request.tool))) {
    throw refused(toolRefusal(live, request.tool) ?? `MCP "${live.slug}" cannot serve "${request.tool}"`);
  }
  const userId = live.config.isolation === 'per-user' ? request.userId : null;
  return callApprovedTool(deps, live, userId, request.tool, request.args, {
    ...options,
    caller: request.userId,
  });
}

/**
 * Calls `tool` on the instance serving `userId` (null: shared). When that instance is not running yet, its
 * start re-lists and reconciles pins, and the call is judged by what the new process reported.
 */
export async function callApprovedTool(
  deps: { liveCatalog: LiveCatalog; runtime: RuntimeManager },
  live: LiveMcp,
  userId: string | null,
  tool: string,
  args: Record<string, unknown>,
  options?: CallOptions,
): Promise<CallToolResult> {
  const instance = deps.runtime.instanceFor(live, userId);
  let current: LiveMcp | null = live;
  if (!instance.isReady) {
    await instance.ensureStarted();
    current = await deps.liveCatalog.get(live.mcpId);
  }
  const refusal = current ? toolRefusal(current, tool) : `MCP "${live.slug}" is no longer available`;
  if (refusal) throw refused(refusal);
  return instance.callTool(tool, args, options);
}
