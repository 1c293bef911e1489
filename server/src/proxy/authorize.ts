import type { LiveMcp } from '../catalog/live-catalog.js';
import type { ClientAccess } from './access.js';
import { findTool, type Snapshot } from './snapshot.js';
import { slugOfName, type View } from './view.js';

/** What is being asked: to connect at all, to call (or see) a tool by its exposed name, to reach an MCP. */
export type AuthorizationRequest =
  | { readonly kind: 'connect' }
  | { readonly kind: 'tool'; readonly view: View; readonly name: string }
  | { readonly kind: 'mcp'; readonly view: View; readonly slug: string };

/** One reason per rule; each rule is written once, below. */
export type DenialReason =
  | 'client_inactive'
  | 'user_inactive'
  | 'client_killed'
  | 'user_killed'
  | 'not_subscribed'
  | 'not_in_view'
  | 'mcp_killed'
  | 'mcp_archived'
  | 'mcp_not_granted'
  | 'no_such_tool'
  | 'tool_not_selected'
  | 'tool_new'
  | 'tool_changed'
  | 'tool_rejected'
  | 'tool_removed'
  | 'tool_unavailable';

export interface Denial {
  readonly ok: false;
  readonly reason: DenialReason;
  /** What the audit trail records as the reason. */
  readonly detail: string;
  /** Whether the client may learn why (else it is told the thing does not exist). */
  readonly entitled: boolean;
  /** The client-facing message. */
  readonly message: string;
  readonly mcp: LiveMcp | null;
  /** The downstream tool's name when the request resolved to one. */
  readonly tool: string | null;
}

export interface ConnectPermit {
  readonly ok: true;
}

export interface McpPermit {
  readonly ok: true;
  readonly mcp: LiveMcp;
}

export interface ToolPermit {
  readonly ok: true;
  readonly mcp: LiveMcp;
  /** The client-facing name in the view, and the downstream tool it names. */
  readonly name: string;
  readonly tool: string;
  readonly definitionHash: string;
  readonly definition: Record<string, unknown>;
}

export const NO_LONGER_VALID = 'The client key is no longer valid';

function deny(
  request: AuthorizationRequest,
  reason: DenialReason,
  detail: string,
  entitled: boolean,
  mcp: LiveMcp | null = null,
  tool: string | null = null,
): Denial {
  let message: string;
  if (request.kind === 'connect' || reason.startsWith('client_') || reason.startsWith('user_')) {
    message = NO_LONGER_VALID;
  } else if (request.kind === 'tool') {
    message = entitled ? `Tool call refused: ${detail}` : `Unknown tool: ${request.name}`;
  } else {
    message = entitled ? `MCP "${request.slug}" refused: ${detail}` : 'Not found';
  }
  return { ok: false, reason, detail, entitled, message, mcp, tool };
}

/** Client, user and their kill switches: the connect rules, also the first rules of every other request. */
function connectDenial(access: ClientAccess, snapshot: Snapshot, request: AuthorizationRequest) {
  if (!access.clientActive) return deny(request, 'client_inactive', 'client suspended or revoked', true);
  if (!access.userActive) return deny(request, 'user_inactive', 'user suspended', true);
  if (snapshot.kills.clients.has(access.clientId)) {
    return deny(request, 'client_killed', 'client killed by an admin', true);
  }
  if (snapshot.kills.users.has(access.userId))
    return deny(request, 'user_killed', 'user killed by an admin', true);
  return null;
}

/** Subscription, view, MCP kill switch, archive and group grant, in this order. */
function mcpDenial(
  access: ClientAccess,
  snapshot: Snapshot,
  request: AuthorizationRequest,
  view: View,
  mcp: LiveMcp | undefined,
): Denial | null {
  if (!mcp || !access.subscriptions.has(mcp.mcpId))
    return deny(request, 'not_subscribed', 'not subscribed', false);
  if (!view.includes(mcp.slug)) return deny(request, 'not_in_view', 'not in this view', false, mcp);
  if (snapshot.kills.mcps.has(mcp.mcpId))
    return deny(request, 'mcp_killed', 'mcp killed by an admin', true, mcp);
  if (mcp.status !== 'published') return deny(request, 'mcp_archived', 'mcp archived', false, mcp);
  for (const group of mcp.groupIds) if (access.groupIds.has(group)) return null;
  return deny(request, 'mcp_not_granted', 'mcp not granted to the user', false, mcp);
}

/** The pin rule: only an approved definition is ever served. */
function pinDenial(request: AuthorizationRequest, mcp: LiveMcp, tool: string, state: string): Denial {
  const which = `Tool "${tool}" of MCP "${mcp.slug}"`;
  switch (state) {
    case 'changed':
      return deny(
        request,
        'tool_changed',
        `${which} is quarantined: its definition changed after an admin approved it, and an admin must review the change`,
        true,
        mcp,
        tool,
      );
    case 'new':
      return deny(
        request,
        'tool_new',
        `${which} is new and held until an admin approves it`,
        true,
        mcp,
        tool,
      );
    case 'rejected':
      return deny(
        request,
        'tool_rejected',
        `${which} was rejected by an admin after its definition changed`,
        true,
        mcp,
        tool,
      );
    case 'removed':
      return deny(request, 'tool_removed', `${which} is no longer offered by the server`, true, mcp, tool);
    default:
      return deny(request, 'tool_unavailable', 'tool not callable', true, mcp, tool);
  }
}

function authorizeTool(
  access: ClientAccess,
  snapshot: Snapshot,
  request: AuthorizationRequest & { kind: 'tool' },
): ToolPermit | Denial {
  const found = findTool(snapshot, request.view, request.name);
  const mcp = found?.mcp ?? snapshot.bySlug.get(slugOfName(request.view, request.name));
  const refused = mcpDenial(access, snapshot, request, request.view, mcp);
  if (refused) return refused;
  if (!found) return deny(request, 'no_such_tool', 'no such tool', false, mcp);
  const selection = access.subscriptions.get(found.mcp.mcpId);
  if (selection && !selection.has(found.tool)) {
    return deny(request, 'tool_not_selected', 'tool not selected', false, found.mcp, found.tool);
  }
  const { pin } = found;
  if (pin.state !== 'approved' || !pin.approvedDefinition) {
    return pinDenial(request, found.mcp, found.tool, pin.state === 'approved' ? 'unknown' : pin.state);
  }
  return {
    ok: true,
    mcp: found.mcp,
    name: request.name,
    tool: found.tool,
    definitionHash: pin.approvedHash ?? '',
    definition: pin.approvedDefinition,
  };
}

/**
 * The one authorization decision, pure and synchronous: the client's access and a snapshot in, a permit or
 * a denial out. Every listing and every call derives from it, so a rule exists exactly once.
 */
export function authorize(
  access: ClientAccess,
  snapshot: Snapshot,
  request: { kind: 'connect' },
): ConnectPermit | Denial;
export function authorize(
  access: ClientAccess,
  snapshot: Snapshot,
  request: { kind: 'tool'; view: View; name: string },
): ToolPermit | Denial;
export function authorize(
  access: ClientAccess,
  snapshot: Snapshot,
  request: { kind: 'mcp'; view: View; slug: string },
): McpPermit | Denial;
export function authorize(
  access: ClientAccess,
  snapshot: Snapshot,
  request: AuthorizationRequest,
): ConnectPermit | McpPermit | ToolPermit | Denial {
  const refused = connectDenial(access, snapshot, request);
  if (refused) return refused;
  switch (request.kind) {
    case 'connect':
      return { ok: true };
    case 'tool':
      return authorizeTool(access, snapshot, request);
    case 'mcp': {
      const mcp = snapshot.bySlug.get(request.slug);
      return mcpDenial(access, snapshot, request, request.view, mcp) ?? { ok: true, mcp: mcp as LiveMcp };
    }
  }
}

/** The subscribed MCPs of a view this client may reach, by slug. */
export function permittedMcps(access: ClientAccess, snapshot: Snapshot, view: View): LiveMcp[] {
  const permitted: LiveMcp[] = [];
  for (const mcpId of access.subscriptions.keys()) {
    const mcp = snapshot.mcps.get(mcpId);
    if (!mcp || !view.includes(mcp.slug)) continue;
    const decision = authorize(access, snapshot, { kind: 'mcp', view, slug: mcp.slug });
    if (decision.ok) permitted.push(decision.mcp);
  }
  return permitted.sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
}

/** The tools this client may call: every candidate name of its subscribed MCPs that {@link authorize} permits. */
export function permittedTools(access: ClientAccess, snapshot: Snapshot, view: View): ToolPermit[] {
  const permitted: ToolPermit[] = [];
  for (const mcpId of access.subscriptions.keys()) {
    const mcp = snapshot.mcps.get(mcpId);
    if (!mcp || !view.includes(mcp.slug)) continue;
    for (const key of mcp.pins.keys()) {
      if (!key.startsWith('tool:')) continue;
      const name = view.name(mcp.slug, key.slice('tool:'.length));
      const decision = authorize(access, snapshot, { kind: 'tool', view, name });
      if (decision.ok) permitted.push(decision);
    }
  }
  return permitted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
