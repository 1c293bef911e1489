import type { KillTargetType } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Orm } from '../platform/db.js';
import { KillSwitchEntity } from './entities.js';

/**
 * The engaged kill switches, in memory. A committed engage or release reloads it before the mutation
 * returns its answer (the reload promise is swapped in synchronously), so the very next request sees it.
 */
export class KillSwitchBoard {
  private engaged: Promise<ReadonlySet<string>>;

  constructor(
    private readonly orm: Orm,
    changes: ChangeBus,
  ) {
    this.engaged = this.load();
    changes.subscribe((change) => {
      if (change.kind === 'kill_switches') this.engaged = this.load();
    });
  }

  private load(): Promise<ReadonlySet<string>> {
    const loading = (this.orm.em.fork() as EntityManager)
      .find(KillSwitchEntity, {})
      .then((rows) => new Set(rows.map((row) => `${row.targetType}:${row.targetId}`)));
    // A failed load is retried by the next check instead of failing every request until the next change.
    loading.catch(() => {
      if (this.engaged === loading) this.engaged = this.load();
    });
    return loading;
  }

  async isKilled(type: KillTargetType, id: string): Promise<boolean> {
    return (await this.engaged).has(`${type}:${id}`);
  }
}
