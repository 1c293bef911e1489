import { McpConfig, type McpStatus, type PinState } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import type { LiveMcp, LivePin } from '../../src/catalog/live-catalog.js';
import type { ClientAccess } from '../../src/proxy/access.js';
import {
  type AuthorizationRequest,
  authorize,
  type DenialReason,
  NO_LONGER_VALID,
} from '../../src/proxy/authorize.js';
import { buildSnapshot, type KillSets, NO_KILLS } from '../../src/proxy/snapshot.js';
import { AGGREGATE_VIEW, exposedToolName, passthroughView, type View } from '../../src/proxy/view.js';

const CONFIG = McpConfig.parse({
  connection: { transport: 'streamable-http', url: 'https://example.test/mcp' },
});

const pin = (state: PinState, definition = state !== 'new'): LivePin => ({
  state,
  approvedHash: definition ? `hash-${state}` : null,
  approvedDefinition: definition ? { description: `a ${state} tool`, inputSchema: { type: 'object' } } : null,
  changedAt: null,
});

function mcp(
  id: string,
  slug: string,
  options: { status?: McpStatus; groups?: string[]; pins?: Record<string, LivePin> } = {},
): LiveMcp {
  return {
    mcpId: id,
    slug,
    name: slug,
    versionId: `${id}-v1`,
    config: CONFIG,
    status: options.status ?? 'published',
    groupIds: new Set(options.groups ?? ['grp_team']),
    pins: new Map(Object.entries(options.pins ?? { 'tool:x': pin('approved') })),
  };
}

/** One world for the table: each MCP exists to trip exactly one rule. */
const MCPS = [
  mcp('mcp_alpha', 'alpha', {
    pins: {
      'tool:ok': pin('approved'),
      'tool:fresh': pin('new'),
      'tool:drift': pin('changed'),
      'tool:nope': pin('rejected'),
      'tool:gone': pin('removed'),
      'tool:odd': pin('approved', false),
      'prompt:greet': pin('approved'),
    },
  }),
  mcp('mcp_beta', 'beta', { pins: { 'tool:a': pin('approved'), 'tool:b': pin('approved') } }),
  mcp('mcp_gamma', 'gamma', { status: 'archived' }),
  mcp('mcp_delta', 'delta', { groups: ['grp_other'] }),
  mcp('mcp_eps', 'eps'),
  mcp('mcp_zeta', 'zeta'),
];

const ACCESS: ClientAccess = {
  keyHash: 'hash',
  clientId: 'cli_1',
  clientName: 'laptop',
  clientActive: true,
  userId: 'usr_1',
  username: 'ann',
  userActive: true,
  groupIds: new Set(['grp_everyone', 'grp_team']),
  subscriptions: new Map<string, ReadonlySet<string> | null>([
    ['mcp_alpha', null],
    ['mcp_beta', new Set(['a'])],
    ['mcp_gamma', null],
    ['mcp_delta', null],
    ['mcp_eps', null],
  ]),
};
const KILLS: KillSets = { clients: new Set(), users: new Set(), mcps: new Set(['mcp_eps']) };

const tool = (name: string, view: View = AGGREGATE_VIEW): AuthorizationRequest => ({
  kind: 'tool',
  view,
  name,
});
const reach = (slug: string, view: View = AGGREGATE_VIEW): AuthorizationRequest => ({
  kind: 'mcp',
  view,
  slug,
});
const CONNECT: AuthorizationRequest = { kind: 'connect' };
const which = (t: string) => `Tool "${t}" of MCP "alpha"`;
const QUARANTINED = `${which('drift')} is quarantined: its definition changed after an admin approved it, and an admin must review the change`;

type Expected =
  | { ok: true; tool?: string; mcp?: string }
  | { ok: false; reason: DenialReason; detail: string; entitled: boolean; message: string; tool?: string };

const denied = (
  reason: DenialReason,
  detail: string,
  entitled: boolean,
  message: string,
  tool?: string,
): Expected => ({ ok: false, reason, detail, entitled, message, tool });

const CASES: [string, Partial<ClientAccess>, KillSets, AuthorizationRequest, Expected][] = [
  ['an active client connects', {}, KILLS, CONNECT, { ok: true }],
  [
    'a revoked client',
    { clientActive: false },
    KILLS,
    CONNECT,
    denied('client_inactive', 'client suspended or revoked', true, NO_LONGER_VALID),
  ],
  [
    'a suspended user',
    { userActive: false },
    KILLS,
    CONNECT,
    denied('user_inactive', 'user suspended', true, NO_LONGER_VALID),
  ],
  [
    'a killed client',
    {},
    { ...KILLS, clients: new Set(['cli_1']) },
    CONNECT,
    denied('client_killed', 'client killed by an admin', true, NO_LONGER_VALID),
  ],
  [
    'a killed user',
    {},
    { ...KILLS, users: new Set(['usr_1']) },
    CONNECT,
    denied('user_killed', 'user killed by an admin', true, NO_LONGER_VALID),
  ],
  [
    'client rules come first for tools',
    { clientActive: false },
    KILLS,
    tool('alpha__ok'),
    denied('client_inactive', 'client suspended or revoked', true, NO_LONGER_VALID),
  ],
  [
    'user kill applies to MCP requests',
    {},
    { ...KILLS, users: new Set(['usr_1']) },
    reach('alpha'),
    denied('user_killed', 'user killed by an admin', true, NO_LONGER_VALID),
  ],
  [
    'an approved, granted, subscribed tool',
    {},
    KILLS,
    tool('alpha__ok'),
    { ok: true, tool: 'ok', mcp: 'alpha' },
  ],
  [
    'the same tool in its passthrough view',
    {},
    KILLS,
    tool('ok', passthroughView('alpha')),
    { ok: true, tool: 'ok', mcp: 'alpha' },
  ],
  [
    'the aggregate name in a passthrough view',
    {},
    KILLS,
    tool('alpha__ok', passthroughView('alpha')),
    denied('no_such_tool', 'no such tool', false, 'Unknown tool: alpha__ok'),
  ],
  [
    'an MCP not subscribed to',
    {},
    KILLS,
    tool('zeta__x'),
    denied('not_subscribed', 'not subscribed', false, 'Unknown tool: zeta__x'),
  ],
  [
    'an MCP that does not exist',
    {},
    KILLS,
    tool('nowhere__x'),
    denied('not_subscribed', 'not subscribed', false, 'Unknown tool: nowhere__x'),
  ],
  [
    'a name without a slug',
    {},
    KILLS,
    tool('x'),
    denied('not_subscribed', 'not subscribed', false, 'Unknown tool: x'),
  ],
  [
    'a killed MCP',
    {},
    KILLS,
    tool('eps__x'),
    denied('mcp_killed', 'mcp killed by an admin', true, 'Tool call refused: mcp killed by an admin'),
  ],
  [
    'an archived MCP',
    {},
    KILLS,
    tool('gamma__x'),
    denied('mcp_archived', 'mcp archived', false, 'Unknown tool: gamma__x'),
  ],
  [
    'an MCP no group of the user is granted',
    {},
    KILLS,
    tool('delta__x'),
    denied('mcp_not_granted', 'mcp not granted to the user', false, 'Unknown tool: delta__x'),
  ],
  [
    'a tool the MCP never offered',
    {},
    KILLS,
    tool('alpha__missing'),
    denied('no_such_tool', 'no such tool', false, 'Unknown tool: alpha__missing'),
  ],
  [
    'a tool outside the selection',
    {},
    KILLS,
    tool('beta__b'),
    denied('tool_not_selected', 'tool not selected', false, 'Unknown tool: beta__b', 'b'),
  ],
  ['a selected tool', {}, KILLS, tool('beta__a'), { ok: true, tool: 'a', mcp: 'beta' }],
  [
    'a new tool',
    {},
    KILLS,
    tool('alpha__fresh'),
    denied(
      'tool_new',
      `${which('fresh')} is new and held until an admin approves it`,
      true,
      `Tool call refused: ${which('fresh')} is new and held until an admin approves it`,
      'fresh',
    ),
  ],
  [
    'a changed tool',
    {},
    KILLS,
    tool('alpha__drift'),
    denied('tool_changed', QUARANTINED, true, `Tool call refused: ${QUARANTINED}`, 'drift'),
  ],
  [
    'a rejected tool',
    {},
    KILLS,
    tool('alpha__nope'),
    denied(
      'tool_rejected',
      `${which('nope')} was rejected by an admin after its definition changed`,
      true,
      `Tool call refused: ${which('nope')} was rejected by an admin after its definition changed`,
      'nope',
    ),
  ],
  [
    'a removed tool',
    {},
    KILLS,
    tool('alpha__gone'),
    denied(
      'tool_removed',
      `${which('gone')} is no longer offered by the server`,
      true,
      `Tool call refused: ${which('gone')} is no longer offered by the server`,
      'gone',
    ),
  ],
  [
    'an approved pin without a definition',
    {},
    KILLS,
    tool('alpha__odd'),
    denied('tool_unavailable', 'tool not callable', true, 'Tool call refused: tool not callable', 'odd'),
  ],
  [
    'a prompt pin is not a tool',
    {},
    KILLS,
    tool('alpha__greet'),
    denied('no_such_tool', 'no such tool', false, 'Unknown tool: alpha__greet'),
  ],
  ['an MCP for prompts and resources', {}, KILLS, reach('alpha'), { ok: true, mcp: 'alpha' }],
  [
    'an MCP outside the passthrough view',
    {},
    KILLS,
    reach('beta', passthroughView('alpha')),
    denied('not_in_view', 'not in this view', false, 'Not found'),
  ],
  [
    'a killed MCP for resources',
    {},
    KILLS,
    reach('eps'),
    denied('mcp_killed', 'mcp killed by an admin', true, 'MCP "eps" refused: mcp killed by an admin'),
  ],
  [
    'an archived MCP for prompts',
    {},
    KILLS,
    reach('gamma'),
    denied('mcp_archived', 'mcp archived', false, 'Not found'),
  ],
  [
    'an ungranted MCP for prompts',
    {},
    KILLS,
    reach('delta'),
    denied('mcp_not_granted', 'mcp not granted to the user', false, 'Not found'),
  ],
  [
    'an unsubscribed MCP for resources',
    {},
    KILLS,
    reach('zeta'),
    denied('not_subscribed', 'not subscribed', false, 'Not found'),
  ],
];

describe('authorize (pure, table-driven)', () => {
  it.each(CASES)('%s', (_label, accessChanges, kills, request, expected) => {
    const snapshot = buildSnapshot(MCPS, kills);
    const decision = authorize(
      { ...ACCESS, ...accessChanges },
      snapshot,
      request as never,
    ) as unknown as Record<string, unknown> & { mcp?: LiveMcp | null; tool?: string | null };
    if (expected.ok) {
      expect(decision.ok).toBe(true);
      if (expected.mcp) expect(decision.mcp?.slug).toBe(expected.mcp);
      if (expected.tool) expect(decision.tool).toBe(expected.tool);
      return;
    }
    expect({
      ok: decision.ok,
      reason: decision.reason,
      detail: decision.detail,
      entitled: decision.entitled,
      message: decision.message,
      tool: decision.tool ?? undefined,
    }).toEqual(expected);
  });

  it('covers every denial reason in the table', () => {
    const reasons = new Set(CASES.flatMap(([, , , , expected]) => (expected.ok ? [] : [expected.reason])));
    const all: Record<DenialReason, true> = {
      client_inactive: true,
      user_inactive: true,
      client_killed: true,
      user_killed: true,
      not_subscribed: true,
      not_in_view: true,
      mcp_killed: true,
      mcp_archived: true,
      mcp_not_granted: true,
      no_such_tool: true,
      tool_not_selected: true,
      tool_new: true,
      tool_changed: true,
      tool_rejected: true,
      tool_removed: true,
      tool_unavailable: true,
    };
    expect([...reasons].sort()).toEqual(Object.keys(all).sort());
  });

  it('permits the approved definition, renamed for the view, with its hash', () => {
    const decision = authorize(ACCESS, buildSnapshot(MCPS, NO_KILLS), {
      kind: 'tool',
      view: AGGREGATE_VIEW,
      name: 'alpha__ok',
    });
    expect(decision).toMatchObject({
      ok: true,
      name: 'alpha__ok',
      tool: 'ok',
      definitionHash: 'hash-approved',
      definition: { description: 'a approved tool' },
    });
  });

  it('finds long tool names by their truncated exposed name', () => {
    const long = 't'.repeat(80);
    const snapshot = buildSnapshot([
      mcp('mcp_alpha', 'alpha', { pins: { [`tool:${long}`]: pin('approved') } }),
    ]);
    const name = exposedToolName('alpha', long);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(authorize(ACCESS, snapshot, { kind: 'tool', view: AGGREGATE_VIEW, name })).toMatchObject({
      ok: true,
      tool: long,
    });
  });
});
