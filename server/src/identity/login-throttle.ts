import type { Clock } from '../platform/clock.js';
import type { ThrottleSettings } from '../platform/config.js';
import type { Orm } from '../platform/db.js';
import { type Bucket, type BucketCount, bucketName, type ThrottleStore } from './throttle-store.js';

/** Which limit a failed sign-in reached. */
export type LoginLimit = 'pair' | 'address' | 'account';

export const loginLimitReason: Record<LoginLimit, string> = {
  pair: 'too many failed sign-ins from one address',
  address: 'too many failed sign-ins from one address across accounts',
  account: 'too many failed sign-ins for one account across addresses',
};

/**
 * Portal sign-in throttles, kept in PostgreSQL so every process agrees (ADR 0018):
 * - per (account, IP): after `loginPerPair` failures the pair is locked until the window ends;
 * - per IP across accounts (password spraying): after `loginPerIp` failures that address may not try any
 *   account until the window ends;
 * - per account across IPs: after `loginPerAccount` failures, only addresses the account signed in from
 *   successfully (within `knownAddressMs`) may still try until the window ends. Strangers are slowed to
 *   that many guesses per window; the owner, from a known address, is never locked out by them.
 */
export class LoginThrottle {
  constructor(
    private readonly deps: { store: ThrottleStore; orm: Orm; clock: Clock; settings: ThrottleSettings },
  ) {}

  private buckets(username: string, ip: string): Record<LoginLimit, Bucket> {
    const account = username.toLowerCase();
    const { settings } = this.deps;
    const rule = (limit: number) => ({ limit, windowMs: settings.loginWindowMs });
    return {
      pair: { name: bucketName('login-pair', `${ip}|${account}`), rule: rule(settings.loginPerPair) },
      address: { name: bucketName('login-ip', ip), rule: rule(settings.loginPerIp) },
      account: { name: bucketName('login-account', account), rule: rule(settings.loginPerAccount) },
    };
  }

  /** Milliseconds this attempt must wait (0: it may proceed) and the limit that holds it back. */
  async retryAfter(username: string, ip: string): Promise<{ ms: number; limit?: LoginLimit }> {
    const buckets = this.buckets(username, ip);
    const { store } = this.deps;
    // A pair or address already known to be over its limit is answered without the database.
    for (const limit of ['pair', 'address'] as const) {
      const ms = store.localRetryAfterMs([buckets[limit].name]);
      if (ms > 0) return { ms, limit };
    }
    const [pair, address, account] = await store.peek([buckets.pair, buckets.address, buckets.account]);
    for (const [limit, count] of [
      ['pair', pair],
      ['address', address],
    ] as const) {
      if (count && count.hits >= count.bucket.rule.limit) {
        store.trip(count);
        return { ms: this.msUntil(count), limit };
      }
    }
    if (account && account.hits >= account.bucket.rule.limit && !(await this.isKnownAddress(username, ip))) {
      return { ms: this.msUntil(account), limit: 'account' };
    }
    return { ms: 0 };
  }

  /** Counts a failure in all three limits (one statement); returns the limits this failure engaged. */
  async recordFailure(username: string, ip: string): Promise<LoginLimit[]> {
    const buckets = this.buckets(username, ip);
    const counts = await this.deps.store.hit(Object.values(buckets));
    const engaged: LoginLimit[] = [];
    for (const limit of ['pair', 'address', 'account'] as const) {
      const count = counts.find((c) => c.bucket.name === buckets[limit].name);
      if (count?.hits === count?.bucket.rule.limit) engaged.push(limit);
      if (count && limit !== 'account' && count.hits >= count.bucket.rule.limit) this.deps.store.trip(count);
    }
    return engaged;
  }

  /** A success clears the pair's failures and remembers the address as known-good for the account. */
  async recordSuccess(username: string, ip: string): Promise<void> {
    const connection = this.deps.orm.em.getConnection();
    await connection.execute(
      `delete from auth_throttle where bucket = ?`,
      [this.buckets(username, ip).pair.name],
      'run',
    );
    await connection.execute(
      `insert into login_known_address (username, ip, last_success_at) values (?, ?, ?)
       on conflict (username, ip) do update set last_success_at = excluded.last_success_at`,
      [username.toLowerCase().slice(0, 128), ip.slice(0, 64), this.deps.clock.now()],
      'run',
    );
  }

  /** Forgets known addresses not used for longer than the setting allows. */
  async prune(): Promise<void> {
    const cutoff = new Date(this.deps.clock.now().getTime() - this.deps.settings.knownAddressMs);
    await this.deps.orm.em
      .getConnection()
      .execute(`delete from login_known_address where last_success_at < ?`, [cutoff], 'run');
  }

  private async isKnownAddress(username: string, ip: string): Promise<boolean> {
    const since = new Date(this.deps.clock.now().getTime() - this.deps.settings.knownAddressMs);
    const rows = await this.deps.orm.em
      .getConnection()
      .execute<unknown[]>(
        `select 1 from login_known_address where username = ? and ip = ? and last_success_at >= ?`,
        [username.toLowerCase().slice(0, 128), ip.slice(0, 64), since],
      );
    return rows.length > 0;
  }

  private msUntil(count: BucketCount): number {
    return Math.max(1000, count.windowEndsAt - this.deps.clock.now().getTime());
  }
}

/** Deletes finished throttle windows and stale known addresses every ten minutes; returns a stop function. */
export function scheduleThrottlePruning(
  store: ThrottleStore,
  login: LoginThrottle,
  settings: ThrottleSettings,
  log: { warn(object: object, message: string): void },
): () => void {
  const longestWindowMs = Math.max(settings.mcpWindowMs, settings.loginWindowMs);
  const timer = setInterval(() => {
    Promise.all([store.prune(longestWindowMs), login.prune()]).catch((error: unknown) =>
      log.warn({ err: error }, 'could not prune the authentication throttles'),
    );
  }, 10 * 60_000);
  timer.unref();
  return () => clearInterval(timer);
}
