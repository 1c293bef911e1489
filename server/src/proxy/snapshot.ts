import { type LiveCatalog, type LiveMcp, type LivePin, pinKey } from '../catalog/live-catalog.js';
import type { KillSwitchBoard } from '../kill-switches/kill-switch-board.js';
import { exposedToolName, type View } from './view.js';

/** One tool pin of a live MCP, whatever its state. */
export interface SnapshotTool {
  readonly mcp: LiveMcp;
  readonly tool: string;
  readonly pin: LivePin;
}

/** The engaged kill switches, one set per target type. */
export interface KillSets {
  readonly clients: ReadonlySet<string>;
  readonly users: ReadonlySet<string>;
  readonly mcps: ReadonlySet<string>;
}

/**
 * An immutable picture of everything authorization needs besides the client's own access: the live MCPs
 * (config, status, grants, pins) by id and by slug, the kill switches, and the aggregate view's name index,
 * so a call finds its tool by exposed name in O(1). Never mutated: a change builds a new one.
 */
export interface Snapshot {
  readonly mcps: ReadonlyMap<string, LiveMcp>;
  readonly bySlug: ReadonlyMap<string, LiveMcp>;
  readonly kills: KillSets;
  /** Aggregate-view name (`slug__tool`) → the tool it names, for every tool pin of every live MCP. */
  readonly aggregateNames: ReadonlyMap<string, SnapshotTool>;
}

export const NO_KILLS: KillSets = { clients: new Set(), users: new Set(), mcps: new Set() };

export function buildSnapshot(mcps: Iterable<LiveMcp>, kills: KillSets = NO_KILLS): Snapshot {
  const byId = new Map<string, LiveMcp>();
  const bySlug = new Map<string, LiveMcp>();
  const aggregateNames = new Map<string, SnapshotTool>();
  for (const mcp of mcps) {
    byId.set(mcp.mcpId, mcp);
    bySlug.set(mcp.slug, mcp);
    for (const [key, pin] of mcp.pins) {
      if (!key.startsWith('tool:')) continue;
      const tool = key.slice('tool:'.length);
      aggregateNames.set(exposedToolName(mcp.slug, tool), { mcp, tool, pin });
    }
  }
  return Object.freeze({ mcps: byId, bySlug, kills, aggregateNames });
}

/** The tool a client-facing name designates in a view, whatever its state; undefined when none. */
export function findTool(snapshot: Snapshot, view: View, name: string): SnapshotTool | undefined {
  if (view.only === null) return snapshot.aggregateNames.get(name);
  const mcp = snapshot.bySlug.get(view.only);
  const pin = mcp?.pins.get(pinKey('tool', name));
  return mcp && pin ? { mcp, tool: name, pin } : undefined;
}

/**
 * The current snapshot, cached. It is rebuilt lazily, by the first request after the live catalog or the
 * kill-switch board changed (both count their changes); when nothing changed every request shares one.
 */
export class SnapshotSource {
  private cached: { version: string; snapshot: Snapshot } | null = null;
  private building: { version: string; promise: Promise<Snapshot> } | null = null;

  constructor(private readonly deps: { liveCatalog: LiveCatalog; kills: KillSwitchBoard }) {}

  current(): Promise<Snapshot> {
    const version = `${this.deps.liveCatalog.version}:${this.deps.kills.version}`;
    if (this.cached?.version === version) return Promise.resolve(this.cached.snapshot);
    if (this.building?.version === version) return this.building.promise;
    const promise = this.build().then(
      (snapshot) => {
        if (this.building?.promise === promise) this.building = null;
        // A change that landed meanwhile has moved the version on: the next request rebuilds.
        this.cached = { version, snapshot };
        return snapshot;
      },
      (error: unknown) => {
        if (this.building?.promise === promise) this.building = null;
        throw error;
      },
    );
    this.building = { version, promise };
    return promise;
  }

  private async build(): Promise<Snapshot> {
    const [mcps, kills] = await Promise.all([this.deps.liveCatalog.all(), this.deps.kills.engaged()]);
    return buildSnapshot(mcps, kills);
  }
}
