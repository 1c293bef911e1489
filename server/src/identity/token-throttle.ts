import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { ThrottleSettings } from '../platform/config.js';
import { rateLimited } from '../platform/errors.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import { type Bucket, bucketName, type ThrottleStore } from './throttle-store.js';

const tooMany = (retryAfterMs: number) => {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return rateLimited(`Too many failed authentication attempts; try again in ${seconds} s`, seconds);
};

/**
 * Unknown or revoked API tokens (`Authorization: Bearer …` on the portal port: tRPC, GraphQL, the export)
 * count as failures per source (an IPv4 address, an IPv6 /64), in the same PostgreSQL counters as client
 * keys (ADR 0018). The token is always resolved first (one indexed read), so a valid token is never refused
 * because others behind the same address guessed; over the limit, unknown tokens from that address are
 * answered 429 from memory, without counting. Session cookies are not counted: an expired cookie is the
 * normal end of a session, not a guess.
 */
export class ApiTokenThrottle {
  constructor(
    private readonly deps: { store: ThrottleStore; refusals: RefusalAudit; settings: ThrottleSettings },
  ) {}

  private bucket(ip: string): Bucket {
    const { settings } = this.deps;
    return {
      name: bucketName('api-ip', throttleSourceOf(ip)),
      rule: { limit: settings.mcpPerIp, windowMs: settings.mcpWindowMs },
    };
  }

  /**
   * A bearer token resolved to nobody: throws RATE_LIMITED without any database access when this address is
   * known to be over its limit; otherwise counts the failure, and throws RATE_LIMITED when it is over.
   */
  async recordFailure(ip: string, requestId: string): Promise<void> {
    const bucket = this.bucket(ip);
    const waitMs = this.deps.store.localRetryAfterMs([bucket.name]);
    if (waitMs > 0) {
      await this.deps.refusals.record('throttled', ip, requestId);
      throw tooMany(waitMs);
    }
    await this.deps.refusals.record('unknown_api_token', ip, requestId);
    const [count] = await this.deps.store.hit([bucket]);
    if (count && count.hits > count.bucket.rule.limit) {
      this.deps.store.trip(count);
      throw tooMany(this.deps.store.localRetryAfterMs([count.bucket.name]));
    }
  }
}
