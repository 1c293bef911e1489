import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { ThrottleSettings } from '../platform/config.js';
import { rateLimited } from '../platform/errors.js';
import { type Bucket, bucketName, type ThrottleStore } from './throttle-store.js';

const tooMany = (retryAfterMs: number) => {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return rateLimited(`Too many failed authentication attempts; try again in ${seconds} s`, seconds);
};

/**
 * Unknown or revoked API tokens (`Authorization: Bearer …` on the portal port: tRPC, GraphQL, the export)
 * count as failures per source IP, in the same PostgreSQL counters as client keys (ADR 0018). Over the
 * limit, the address is answered 429 from memory, before any lookup. Session cookies are not counted: an
 * expired cookie is the normal end of a session, not a guess.
 */
export class ApiTokenThrottle {
  constructor(
    private readonly deps: { store: ThrottleStore; refusals: RefusalAudit; settings: ThrottleSettings },
  ) {}

  private bucket(ip: string): Bucket {
    const { settings } = this.deps;
    return {
      name: bucketName('api-ip', ip),
      rule: { limit: settings.mcpPerIp, windowMs: settings.mcpWindowMs },
    };
  }

  /** Throws RATE_LIMITED (no database access) when this address is known to be over its limit. */
  assertNotTripped(ip: string, requestId: string): void {
    const waitMs = this.deps.store.localRetryAfterMs([this.bucket(ip).name]);
    if (waitMs > 0) {
      this.deps.refusals.record('throttled', ip, requestId);
      throw tooMany(waitMs);
    }
  }

  /** Counts an unknown token; throws RATE_LIMITED when this failure is over the limit. */
  async recordFailure(ip: string, requestId: string): Promise<void> {
    this.deps.refusals.record('unknown_api_token', ip, requestId);
    const [count] = await this.deps.store.hit([this.bucket(ip)]);
    if (count && count.hits > count.bucket.rule.limit) {
      this.deps.store.trip(count);
      throw tooMany(this.deps.store.localRetryAfterMs([count.bucket.name]));
    }
  }
}
