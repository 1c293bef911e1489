import type { KillTargetType } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Orm } from '../platform/db.js';
import type { KillSets } from '../proxy/snapshot.js';
import { KillSwitchEntity } from './entities.js';

const setOf = (sets: KillSets, type: KillTargetType): ReadonlySet<string> =>
  type === 'client' ? sets.clients : type === 'user' ? sets.users : sets.mcps;

/**
 * The engaged kill switches, in memory. A committed engage or release reloads it before the mutation
 * returns its answer (the reload promise is swapped in synchronously, and {@link version} moves on), so the
 * very next request sees it.
 */
export class KillSwitchBoard {
  private current: Promise<KillSets>;
  private changes = 0;

  constructor(
    private readonly orm: Orm,
    changes: ChangeBus,
  ) {
    this.current = this.load();
    changes.subscribe((change) => {
      if (change.kind === 'kill_switches') this.reload();
    });
  }

  private reload(): void {
    this.current = this.load();
    this.changes += 1;
  }

  private load(): Promise<KillSets> {
    const loading = (this.orm.em.fork() as EntityManager).find(KillSwitchEntity, {}).then((rows) => {
      const sets = { clients: new Set<string>(), users: new Set<string>(), mcps: new Set<string>() };
      for (const row of rows) (setOf(sets, row.targetType) as Set<string>).add(row.targetId);
      return sets;
    });
    // A failed load is retried by the next check instead of failing every request until the next change.
    loading.catch(() => {
      if (this.current === loading) this.reload();
    });
    return loading;
  }

  /** Counts reloads, so a cache built from this board (the authorization snapshot) knows when it is stale. */
  get version(): number {
    return this.changes;
  }

  /** The engaged switches, one set per target type. */
  engaged(): Promise<KillSets> {
    return this.current;
  }

  async isKilled(type: KillTargetType, id: string): Promise<boolean> {
    return setOf(await this.current, type).has(id);
  }
}
