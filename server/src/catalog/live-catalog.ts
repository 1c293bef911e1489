import type { McpConfig, McpStatus, PinKind, PinState } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../platform/db.js';
import type { RuntimeTarget } from '../runtime/runtime-manager.js';
import { McpGrantEntity, McpPinEntity, McpServerEntity, McpVersionEntity } from './entities.js';

export interface LivePin {
  readonly state: PinState;
  readonly approvedHash: string | null;
  readonly approvedDefinition: Record<string, unknown> | null;
  readonly changedAt: Date | null;
}

/** A published (or archived) MCP as the hot path needs it: live config, grants and pins, no DB round trip. */
export interface LiveMcp extends RuntimeTarget {
  readonly name: string;
  readonly status: McpStatus;
  readonly config: McpConfig;
  readonly groupIds: ReadonlySet<string>;
  readonly pins: ReadonlyMap<string, LivePin>;
}

export const pinKey = (kind: PinKind, name: string) => `${kind}:${name}`;

/**
 * Read-through cache of live MCPs. Every catalog mutation invalidates its MCP after commit; a load racing an
 * invalidation is dropped with it, so a stale entry never survives. Single-process: see ADR 0008.
 */
export class LiveCatalog {
  private readonly entries = new Map<string, Promise<LiveMcp | null>>();
  private ids: Promise<string[]> | null = null;
  private changes = 0;

  constructor(private readonly orm: Orm) {}

  get(mcpId: string): Promise<LiveMcp | null> {
    let entry = this.entries.get(mcpId);
    if (!entry) {
      entry = this.load(mcpId);
      this.entries.set(mcpId, entry);
      entry.catch(() => {
        if (this.entries.get(mcpId) === entry) this.entries.delete(mcpId);
      });
    }
    return entry;
  }

  /** Every MCP with a live version (published or archived); only invalidated entries are read again. */
  async all(): Promise<LiveMcp[]> {
    let ids = this.ids;
    if (!ids) {
      const loading = this.loadIds();
      ids = loading;
      this.ids = loading;
      loading.catch(() => {
        if (this.ids === loading) this.ids = null;
      });
    }
    const loaded = await Promise.all((await ids).map((id) => this.get(id)));
    return loaded.filter((live): live is LiveMcp => live !== null);
  }

  /** Counts invalidations, so a cache built from this one knows when it is stale. */
  get version(): number {
    return this.changes;
  }

  invalidate(mcpId: string): void {
    this.entries.delete(mcpId);
    this.ids = null;
    this.changes += 1;
  }

  private async loadIds(): Promise<string[]> {
    const em = this.orm.em.fork() as EntityManager;
    const rows = await em.find(McpServerEntity, { liveVersionId: { $ne: null } }, { fields: ['id'] });
    return rows.map((row) => row.id);
  }

  private async load(mcpId: string): Promise<LiveMcp | null> {
    const em = this.orm.em.fork() as EntityManager;
    const mcp = await em.findOne(McpServerEntity, { id: mcpId });
    if (!mcp?.liveVersionId) return null;
    const [version, grants, pins] = await Promise.all([
      em.findOneOrFail(McpVersionEntity, { id: mcp.liveVersionId }),
      em.find(McpGrantEntity, { mcp: mcpId }),
      em.find(McpPinEntity, { mcp: mcpId }),
    ]);
    return {
      mcpId: mcp.id,
      slug: mcp.slug,
      name: mcp.name,
      status: mcp.status,
      versionId: version.id,
      config: version.config,
      groupIds: new Set(grants.map((grant) => grant.group.id)),
      pins: new Map(
        pins.map((pin) => [
          pinKey(pin.kind, pin.name),
          {
            state: pin.state,
            approvedHash: pin.approvedHash ?? null,
            approvedDefinition: pin.approvedDefinition ?? null,
            changedAt: pin.changedAt ?? null,
          },
        ]),
      ),
    };
  }
}
