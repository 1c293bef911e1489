import type { EntityManager } from '@mikro-orm/postgresql';
import { CLIENT_KEY_PREFIX } from '../clients/clients.service.js';
import { ClientEntity, SubscriptionEntity } from '../clients/entities.js';
import { sha256Hex } from '../crypto/index.js';
import { GroupMembershipEntity, type UserRow } from '../identity/entities.js';
import { EVERYONE_GROUP_ID } from '../identity/groups.service.js';
import { OAUTH_ACCESS_PREFIX } from '../oauth-server/tokens.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Orm } from '../platform/db.js';

/** Everything the hot path needs to know about a client key, resolved once and cached until a change. */
export interface ClientAccess {
  /** The key's lookup hash; for a client reached through OAuth, `oauth:<client id>` (stable across tokens). */
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
/** Known keys are bounded by the clients that exist; this only guards memory against something pathological. */
const MAX_KNOWN = 200_000;
/** Unknown keys are remembered apart, so guessing can never push a valid client out. */
const MAX_UNKNOWN = 10_000;
const UNKNOWN: Promise<ClientAccess | null> = Promise.resolve(null);

/**
 * Resolves `gh_ck_…` keys to {@link ClientAccess} from memory. Any committed change to identities or clients
 * clears it (see the change bus), so a revoked key, a suspended user or a removed subscription takes effect
 * on the very next request; nothing is read from the database per call once warm. Valid keys and unknown
 * keys live in separate maps: a flood of random keys churns only the bounded unknown set (ADR 0018).
 */
export class ClientAccessCache {
  private readonly known = new Map<string, ClientAccess>();
  private readonly loading = new Map<string, Promise<ClientAccess | null>>();
  private readonly unknown = new Set<string>();
  private generation = 0;
  private readonly lastSeenWritten = new Map<string, number>();

  constructor(
    private readonly orm: Orm,
    changes: ChangeBus,
    private readonly limits = { maxKnown: MAX_KNOWN, maxUnknown: MAX_UNKNOWN },
  ) {
    changes.subscribe((change) => {
      if (change.kind === 'identity' || change.kind === 'clients') this.clear();
    });
  }

  /**
   * The lookup hash of whatever was presented. Malformed keys are hashed and looked up like well-formed ones
   * (they can never match), so both cost the same and a caller cannot tell them apart by timing.
   */
  static hashOf(key: string): string {
    return sha256Hex(key);
  }

  /** Whether `key` has the shape of a client key (for messages only; never a shortcut around the lookup). */
  static isWellFormed(key: string): boolean {
    return key.startsWith(CLIENT_KEY_PREFIX) && key.length <= 128;
  }

  /** A valid key already in memory, without any database access; undefined when not known here. */
  peek(keyHash: string): ClientAccess | undefined {
    return this.known.get(keyHash);
  }

  /** The access for a key hash; null for unknown keys (also remembered, so repeats cost no DB reads). */
  resolve(keyHash: string): Promise<ClientAccess | null> {
    const known = this.known.get(keyHash);
    if (known) return Promise.resolve(known);
    if (this.unknown.has(keyHash)) return UNKNOWN;
    let entry = this.loading.get(keyHash);
    if (!entry) {
      const generation = this.generation;
      entry = this.load(keyHash).then(
        (access) => {
          if (this.loading.get(keyHash) === entry) this.loading.delete(keyHash);
          if (generation === this.generation) this.remember(keyHash, access);
          return access;
        },
        (error: unknown) => {
          if (this.loading.get(keyHash) === entry) this.loading.delete(keyHash);
          throw error;
        },
      );
      this.loading.set(keyHash, entry);
    }
    return entry;
  }

  private remember(keyHash: string, access: ClientAccess | null): void {
    if (access) {
      if (this.known.size >= this.limits.maxKnown) this.known.clear();
      this.known.set(keyHash, access);
      return;
    }
    // Oldest first: a Set iterates in insertion order.
    if (this.unknown.size >= this.limits.maxUnknown) {
      const oldest = this.unknown.values().next().value;
      if (oldest !== undefined) this.unknown.delete(oldest);
    }
    this.unknown.add(keyHash);
  }

  /** How many keys are remembered, valid and unknown (for bounds checks). */
  get size(): { known: number; unknown: number } {
    return { known: this.known.size, unknown: this.unknown.size };
  }

  private clear(): void {
    this.generation += 1;
    this.known.clear();
    this.unknown.clear();
    this.loading.clear();
  }

  private async load(keyHash: string): Promise<ClientAccess | null> {
    const em = this.orm.em.fork() as EntityManager;
    // A client reached through OAuth is looked up by its id (ADR 0034): it has no key.
    const client = keyHash.startsWith(OAUTH_ACCESS_PREFIX)
      ? await em.findOne(
          ClientEntity,
          { id: keyHash.slice(OAUTH_ACCESS_PREFIX.length), oauthClientId: { $ne: null } },
          { populate: ['user'] },
        )
      : await em.findOne(ClientEntity, { keyHash }, { populate: ['user'] });
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
