import type { RefusalAudit } from '../audit/refusal-audit.js';
import { type Bucket, bucketName, type ThrottleStore } from '../identity/throttle-store.js';
import type { ThrottleSettings } from '../platform/config.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import { type ClientAccess, ClientAccessCache } from './access.js';
import type { ClientKeyIndex } from './key-index.js';

/** What the endpoint answers for a request's client key, decided from its headers alone. */
export type KeyVerdict =
  | { readonly ok: true; readonly access: ClientAccess }
  | { readonly ok: false; readonly refusal: 'missing' | 'unknown' }
  | { readonly ok: false; readonly refusal: 'throttled'; readonly retryAfterSeconds: number }
  | { readonly ok: false; readonly refusal: 'unavailable'; readonly retryAfterSeconds: number };

const GLOBAL_BUCKET = 'mcp-global';
/** How long a client is asked to wait when the database cannot be reached. */
const UNAVAILABLE_RETRY_SECONDS = 5;

/** Longer than any key: what is presented is cut to this before it is hashed (it can never match anyway). */
const MAX_PRESENTED_KEY = 512;

export function bearerKeyOf(authorization: string | undefined): string | undefined {
  const [scheme, key] = (authorization ?? '').split(' ', 2);
  return scheme?.toLowerCase() === 'bearer' && key?.trim()
    ? key.trim().slice(0, MAX_PRESENTED_KEY)
    : undefined;
}

/**
 * Authenticates a client key from the request headers (ADR 0018). Unknown and malformed keys take the same
 * path (hash, then the cache, then one indexed read) and count as failures per source IP and globally, in
 * PostgreSQL (per source: an IPv4 address, an IPv6 /64). Once a limit trips, this process answers 429 from
 * memory: a flood costs no database read or write. A key in the {@link ClientKeyIndex} (every existing
 * client) is never throttled, cached or not, so an attack cannot lock valid clients out.
 */
export class KeyGuard {
  private readonly perIp: Bucket['rule'];
  private readonly global: Bucket;

  constructor(
    private readonly deps: {
      access: ClientAccessCache;
      index: ClientKeyIndex;
      store: ThrottleStore;
      refusals: RefusalAudit;
      settings: ThrottleSettings;
    },
  ) {
    this.perIp = { limit: deps.settings.mcpPerIp, windowMs: deps.settings.mcpWindowMs };
    this.global = {
      name: GLOBAL_BUCKET,
      rule: { limit: deps.settings.mcpGlobal, windowMs: deps.settings.mcpWindowMs },
    };
  }

  async check(request: { authorization: string | undefined; ip: string; id: string }): Promise<KeyVerdict> {
    const key = bearerKeyOf(request.authorization);
    if (!key) return { ok: false, refusal: 'missing' };
    const keyHash = ClientAccessCache.hashOf(key);
    const known = this.deps.access.peek(keyHash);
    if (known) return { ok: true, access: known };

    const ipBucket: Bucket = { name: bucketName('mcp-ip', throttleSourceOf(request.ip)), rule: this.perIp };
    // A key of an existing client skips the throttles: a flood must not lock it out (ADR 0018).
    const waitMs = this.deps.index.has(keyHash)
      ? 0
      : this.deps.store.localRetryAfterMs([ipBucket.name, this.global.name]);
    if (waitMs > 0) {
      await this.deps.refusals.record('throttled', request.ip, request.id);
      return { ok: false, refusal: 'throttled', retryAfterSeconds: Math.ceil(waitMs / 1000) };
    }

    try {
      const access = await this.deps.access.resolve(keyHash);
      if (access) {
        this.deps.index.add(keyHash);
        return { ok: true, access };
      }
      await this.deps.refusals.record('unknown_key', request.ip, request.id, {
        wellFormed: ClientAccessCache.isWellFormed(key),
      });
      const counts = await this.deps.store.hit([ipBucket, this.global]);
      const over = counts.filter((count) => count.hits > count.bucket.rule.limit);
      if (over.length === 0) return { ok: false, refusal: 'unknown' };
      for (const count of over) this.deps.store.trip(count);
      const wait = this.deps.store.localRetryAfterMs(over.map((count) => count.bucket.name));
      return { ok: false, refusal: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
    } catch {
      // The database is unreachable: nothing can be decided, and nothing internal is said.
      return { ok: false, refusal: 'unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS };
    }
  }
}
