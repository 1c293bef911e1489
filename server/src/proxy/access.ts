import type { EntityManager } from '@mikro-orm/postgresql';
import { CLIENT_KEY_PREFIX } from '../clients/clients.service.js';
import { ClientEntity, SubscriptionEntity } from '../clients/entities.js';
import { sha256Hex } from '../crypto/index.js';
import { GroupMembershipEntity, type UserRow } from '../identity/entities.js';
import { EVERYONE_GROUP_ID } from '../identity/groups.service.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Orm } from '../platform/db.js';

/** Everything the hot path needs to know about a client key, resolved once and cached until a change. */
export interface ClientAccess {
  readonly keyHash: string;
  readonly clientId: string;
  readonly clientName: string;
  readonly clientActive: boolean;
  readonly userId: string;
  readonly username: string;
  readonly userActive: boolean;
  readonly groupIds: ReadonlySet<string>;
  /** Subscribed MCP id → selected tools (null: all approved tools). */
  readonly subscriptions: ReadonlyMap<string, ReadonlySet<string> | null>;
}

const LAST_SEEN_INTERVAL_MS = 60_000;
const MAX_ENTRIES = 50_000;

/**
 * Resolves `gh_ck_…` keys to {@link ClientAccess} from memory. Any committed change to identities or clients
 * clears it (see the change bus), so a revoked key, a suspended user or a removed subscription takes effect
 * on the very next request; nothing is read from the database per call once warm.
 */
export class ClientAccessCache {
  private readonly entries = new Map<string, Promise<ClientAccess | null>>();
  private readonly lastSeenWritten = new Map<string, number>();

  constructor(
    private readonly orm: Orm,
    changes: ChangeBus,
  ) {
    changes.subscribe((change) => {
      if (change.kind === 'identity' || change.kind === 'clients') this.entries.clear();
    });
  }

  static hashOf(key: string): string | null {
    return key.startsWith(CLIENT_KEY_PREFIX) && key.length <= 128 ? sha256Hex(key) : null;
  }

  /** The access for a key hash; null for unknown keys (also cached, so guessing costs no DB reads). */
  resolve(keyHash: string): Promise<ClientAccess | null> {
    let entry = this.entries.get(keyHash);
    if (!entry) {
      // Unknown keys are cached too; a flood of random keys must not grow memory without bound.
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      entry = this.load(keyHash);
      this.entries.set(keyHash, entry);
      entry.catch(() => {
        if (this.entries.get(keyHash) === entry) this.entries.delete(keyHash);
      });
    }
    return entry;
  }

  private async load(keyHash: string): Promise<ClientAccess | null> {
    const em = this.orm.em.fork() as EntityManager;
    const client = await em.findOne(ClientEntity, { keyHash }, { populate: ['user'] });
    if (!client) return null;
    const user = client.user as UserRow;
    const memberships = await em.find(GroupMembershipEntity, { user: user.id });
    const subscriptions = await em.find(SubscriptionEntity, { client: client.id });
    return {
      keyHash,
      clientId: client.id,
      clientName: client.name,
      clientActive: client.status === 'active',
      userId: user.id,
      username: user.username,
      userActive: user.status === 'active',
      groupIds: new Set([EVERYONE_GROUP_ID, ...memberships.map((m) => m.group.id)]),
      subscriptions: new Map(subscriptions.map((s) => [s.mcp.id, s.tools ? new Set(s.tools) : null])),
    };
  }

  /** Records last-seen time and IP at most once a minute per client, off the request's critical path. */
  touch(access: ClientAccess, ip: string): void {
    const now = Date.now();
    if (now - (this.lastSeenWritten.get(access.clientId) ?? 0) < LAST_SEEN_INTERVAL_MS) return;
    this.lastSeenWritten.set(access.clientId, now);
    void this.orm.em
      .fork()
      .nativeUpdate(ClientEntity, { id: access.clientId }, { lastSeenAt: new Date(now), lastSeenIp: ip })
      .catch(() => this.lastSeenWritten.delete(access.clientId));
  }
}
