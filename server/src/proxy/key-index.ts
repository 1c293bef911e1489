import type { ChangeBus } from '../platform/change-bus.js';
import type { Orm } from '../platform/db.js';

/**
 * The lookup hashes of every client key that exists, in memory (ADR 0018): loaded at start and again after
 * every committed change to clients or identities in this process. `KeyGuard` asks it before any throttle,
 * so a valid key is resolved even while a flood has tripped the limiter (a fresh process, or right after a
 * change cleared the access cache), and an unknown key is told apart without the database. A key created by
 * another process is added the first time it resolves (while the limiter is not tripped).
 */
export class ClientKeyIndex {
  private hashes: Set<string> | undefined;
  private loads = 0;

  constructor(
    private readonly orm: Orm,
    changes: ChangeBus,
    private readonly log: { warn(object: object, message: string): void },
  ) {
    changes.subscribe((change) => {
      if (change.kind === 'clients' || change.kind === 'identity') void this.load();
    });
  }

  /** Whether `keyHash` belongs to an existing client; false too while the index has never loaded. */
  has(keyHash: string): boolean {
    return this.hashes?.has(keyHash) ?? false;
  }

  /** Remembers a key found valid by a lookup (created by another process since the last load). */
  add(keyHash: string): void {
    this.hashes?.add(keyHash);
  }

  /** (Re)reads every key hash; a failure keeps what was known and is logged, never thrown. */
  async load(): Promise<void> {
    const load = ++this.loads;
    try {
      const rows = await this.orm.em
        .getConnection()
        .execute<{ key_hash: string }[]>('select key_hash from mcp_client where key_hash is not null');
      // A slower, older load must not overwrite a newer one.
      if (load === this.loads) this.hashes = new Set(rows.map((row) => row.key_hash));
    } catch (error) {
      this.log.warn({ err: error }, 'could not load the client key index');
    }
  }

  get size(): number {
    return this.hashes?.size ?? 0;
  }
}
