import { McpConfig, type McpStatus, PinState } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import type { LiveMcp, LivePin } from '../../src/catalog/live-catalog.js';
import type { ClientAccess } from '../../src/proxy/access.js';
import { authorize, permittedTools } from '../../src/proxy/authorize.js';
import { buildSnapshot } from '../../src/proxy/snapshot.js';
import { AGGREGATE_VIEW, passthroughView, type View } from '../../src/proxy/view.js';

const CONFIG = McpConfig.parse({
  connection: { transport: 'streamable-http', url: 'https://example.test/mcp' },
});

/** A small deterministic PRNG (mulberry32): the same seed generates the same states on every run. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const some = <T>(items: readonly T[], p = 0.5): T[] => items.filter(() => next() < p);
  return { next, pick, some };
}

const SLUGS = ['alpha', 'beta', 'gamma', 'a-b', 'delta'];
const TOOLS = ['echo', 'run', 'x', 'alpha__echo', 'long-'.repeat(14), 'long-'.repeat(13)];
const GROUPS = ['grp_a', 'grp_b', 'grp_c'];
const STATUSES: McpStatus[] = ['published', 'published', 'archived'];

function generate(seed: number) {
  const rnd = random(seed);
  const mcps: LiveMcp[] = rnd.some(SLUGS, 0.7).map((slug) => {
    const pins = new Map<string, LivePin>();
    for (const tool of rnd.some(TOOLS, 0.6)) {
      const withDefinition = rnd.next() < 0.9;
      pins.set(`tool:${tool}`, {
        state: rnd.pick(PinState.options),
        approvedHash: withDefinition ? `h-${tool}` : null,
        approvedDefinition: withDefinition ? { description: tool } : null,
        changedAt: null,
      });
    }
    return {
      mcpId: `mcp_${slug}`,
      slug,
      name: slug,
      versionId: `v_${slug}`,
      config: CONFIG,
      status: rnd.pick(STATUSES),
      groupIds: new Set(rnd.some(GROUPS)),
      pins,
    };
  });
  const access: ClientAccess = {
    keyHash: 'k',
    clientId: 'cli_1',
    clientName: 'c',
    clientActive: rnd.next() < 0.9,
    userId: 'usr_1',
    username: 'u',
    userActive: rnd.next() < 0.9,
    groupIds: new Set(rnd.some(GROUPS)),
    subscriptions: new Map(
      rnd.some(SLUGS, 0.7).map((slug) => [`mcp_${slug}`, rnd.next() < 0.5 ? null : new Set(rnd.some(TOOLS))]),
    ),
  };
  const kills = {
    clients: new Set(rnd.next() < 0.05 ? ['cli_1'] : []),
    users: new Set(rnd.next() < 0.05 ? ['usr_1'] : []),
    mcps: new Set(rnd.some(SLUGS, 0.15).map((slug) => `mcp_${slug}`)),
  };
  return { mcps, access, snapshot: buildSnapshot(mcps, kills) };
}

describe('tools/list and tools/call never disagree', () => {
  it('over 1,000 generated states, every name is callable if and only if it is listed', () => {
    let listedTotal = 0;
    const disagreements: string[] = [];
    for (let seed = 1; seed <= 1_000; seed++) {
      const { mcps, access, snapshot } = generate(seed);
      const views: View[] = [AGGREGATE_VIEW, ...SLUGS.map(passthroughView), passthroughView('nowhere')];
      for (const view of views) {
        const listed = new Map(permittedTools(access, snapshot, view).map((permit) => [permit.name, permit]));
        listedTotal += listed.size;
        // Every name a client could try: each tool of each MCP under every slug, and some that name nothing.
        const names = new Set(['', '__', 'nowhere__echo', ...TOOLS]);
        for (const slug of SLUGS) for (const tool of TOOLS) names.add(view.name(slug, tool));
        for (const live of mcps)
          for (const key of live.pins.keys()) names.add(view.name(live.slug, key.slice(5)));
        for (const name of names) {
          const decision = authorize(access, snapshot, { kind: 'tool', view, name });
          const permit = listed.get(name);
          // Callable iff listed, and callable as exactly the tool that is listed.
          const agrees = decision.ok
            ? permit?.tool === decision.tool && permit.mcp === decision.mcp
            : permit === undefined;
          if (!agrees) disagreements.push(`seed ${seed}, view ${view.only ?? 'aggregate'}, name ${name}`);
        }
      }
    }
    expect(disagreements).toEqual([]);
    // The generator reaches both sides: many names listed, many refused.
    expect(listedTotal).toBeGreaterThan(500);
  });
});
