import type { RefusalAudit } from '../audit/refusal-audit.js';
import { CLIENT_KEY_PREFIX } from '../clients/clients.service.js';
import { type Bucket, bucketName, type ThrottleStore } from '../identity/throttle-store.js';
import { OAuthTokens } from '../oauth-server/tokens.js';
import type { ThrottleSettings } from '../platform/config.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import { type ClientAccess, ClientAccessCache } from './access.js';
import type { ClientKeyIndex } from './key-index.js';

/** What the endpoint answers for a request's client key, decided from its headers alone. */
export type KeyVerdict =
  | { readonly ok: true; readonly access: ClientAccess }
  | { readonly ok: false; readonly refusal: 'missing' | 'unknown' | 'invalid_token' }
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
 * memory: a flood costs no database write, and no read except one primary-key read for a bearer shaped like
 * an OAuth access token. A key in the {@link ClientKeyIndex} (every existing client) and an OAuth token found
 * by that read are never throttled, cached or not, so an attack cannot lock valid clients out (ADR 0034).
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
      /** OAuth access tokens (ADR 0034): any bearer that is not a client key is looked up as one. */
      tokens?: OAuthTokens;
    },
  ) {
    this.perIp = { limit: deps.settings.mcpPerIp, windowMs: deps.settings.mcpWindowMs };
    this.global = {
      name: GLOBAL_BUCKET,
      rule: { limit: deps.settings.mcpGlobal, windowMs: deps.settings.mcpWindowMs },
    };
  }

  /**
   * `resource` is the canonical URL of the endpoint asked (`/mcp` or `/mcp/<slug>`): an OAuth access token
   * must be bound to exactly it.
   */
  async check(request: {
    authorization: string | undefined;
    ip: string;
    id: string;
    resource: string;
  }): Promise<KeyVerdict> {
    const key = bearerKeyOf(request.authorization);
    if (!key) return { ok: false, refusal: 'missing' };
    const tokens = key.startsWith(CLIENT_KEY_PREFIX) ? undefined : this.deps.tokens;
    const keyHash = tokens ? OAuthTokens.hashOf(key) : ClientAccessCache.hashOf(key);
    const knownKey = tokens ? tokens.peek(keyHash, request.resource) : keyHash;
    const known = knownKey === undefined ? undefined : this.deps.access.peek(knownKey);
    if (known) return { ok: true, access: known };

    // A well-formed OAuth token is looked up (one primary-key read, by its hash) before any throttle: a
    // flood of fake bearers must not lock out a valid token this process has not seen yet. A token that
    // exists but is refused (expired, another resource, a revoked client) is no guess and is not charged.
    let guessed = false;
    if (tokens) {
      if (OAuthTokens.isWellFormed(key)) {
        try {
          const found = await tokens.lookup(key, request.resource);
          if (found !== 'unknown') {
            const access = found === 'refused' ? null : await this.deps.access.resolve(found.accessKey);
            return access ? { ok: true, access } : { ok: false, refusal: 'invalid_token' };
          }
        } catch {
          return { ok: false, refusal: 'unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS };
        }
      }
      guessed = true;
    }

    const ipBucket: Bucket = { name: bucketName('mcp-ip', throttleSourceOf(request.ip)), rule: this.perIp };
    // A key of an existing client skips the throttles: a flood must not lock it out (ADR 0018).
    const waitMs =
      !tokens && this.deps.index.has(keyHash)
        ? 0
        : this.deps.store.localRetryAfterMs([ipBucket.name, this.global.name]);
    if (waitMs > 0) {
      await this.deps.refusals.record('throttled', request.ip, request.id);
      return { ok: false, refusal: 'throttled', retryAfterSeconds: Math.ceil(waitMs / 1000) };
    }

    try {
      const access = guessed ? null : await this.deps.access.resolve(keyHash);
      if (access) {
        this.deps.index.add(keyHash);
        return { ok: true, access };
      }
      await this.deps.refusals.record('unknown_key', request.ip, request.id, {
        wellFormed: tokens ? OAuthTokens.isWellFormed(key) : ClientAccessCache.isWellFormed(key),
      });
      const counts = await this.deps.store.hit([ipBucket, this.global]);
      const over = counts.filter((count) => count.hits > count.bucket.rule.limit);
      if (over.length === 0) return { ok: false, refusal: tokens ? 'invalid_token' : 'unknown' };
      for (const count of over) this.deps.store.trip(count);
      const wait = this.deps.store.localRetryAfterMs(over.map((count) => count.bucket.name));
      return { ok: false, refusal: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
    } catch {
      // The database is unreachable: nothing can be decided, and nothing internal is said.
      return { ok: false, refusal: 'unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS };
    }
  }
}
