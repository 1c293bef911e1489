import type { Clock } from '../platform/clock.js';
import type { ThrottleSettings } from '../platform/config.js';
import type { Orm } from '../platform/db.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import { type Bucket, type BucketCount, bucketName, type ThrottleStore } from './throttle-store.js';

/** Which limit a failed sign-in reached. */
export type LoginLimit = 'pair' | 'address' | 'account';

/** One sign-in attempt, already counted; `ms > 0` when it is refused. */
export interface LoginAttempt {
  readonly ms: number;
  readonly limit?: LoginLimit;
  readonly counts: readonly BucketCount[];
}

const bucketKinds: Record<LoginLimit, string> = {
  pair: 'login-pair',
  address: 'login-ip',
  account: 'login-account',
};

export const loginLimitReason: Record<LoginLimit, string> = {
  pair: 'too many failed sign-ins from one address',
  address: 'too many failed sign-ins from one address across accounts',
  account: 'too many failed sign-ins for one account across addresses',
};

/**
 * Portal sign-in throttles, kept in PostgreSQL so every process agrees (ADR 0018). Every attempt is counted
 * before its password is checked (a success is taken back afterwards), so "failures" below are attempts that
 * did not succeed, and parallel attempts cannot overshoot a limit:
 * - per (account, IP): after `loginPerPair` failures the pair is locked until the window ends;
 * - per IP across accounts (password spraying): after `loginPerIp` failures that address may not try any
 *   account until the window ends;
 * - per account across IPs: after `loginPerAccount` failures, addresses the account signed in from
 *   successfully (within `knownAddressMs`) may still try freely, and any other address once per
 *   `loginSlowMs` until the window ends. Strangers are slowed, never able to lock the owner out.
 */
export class LoginThrottle {
  constructor(
    private readonly deps: { store: ThrottleStore; orm: Orm; clock: Clock; settings: ThrottleSettings },
  ) {}

  private buckets(username: string, ip: string): Record<LoginLimit, Bucket> {
    const account = username.toLowerCase();
    const source = throttleSourceOf(ip);
    const { settings } = this.deps;
    const rule = (limit: number) => ({ limit, windowMs: settings.loginWindowMs });
    return {
      pair: { name: bucketName(bucketKinds.pair, `${source}|${account}`), rule: rule(settings.loginPerPair) },
      address: { name: bucketName(bucketKinds.address, source), rule: rule(settings.loginPerIp) },
      account: { name: bucketName(bucketKinds.account, account), rule: rule(settings.loginPerAccount) },
    };
  }

  /**
   * Counts this attempt in all three limits **before** the password is checked (one upsert that increments
   * and returns the counts), so concurrent attempts cannot all read a count under the limit: at most `limit`
   * of them go on to a password check per window. `ms > 0`: refused, with the limit that holds it back.
   */
  async attempt(username: string, ip: string): Promise<LoginAttempt> {
    const buckets = this.buckets(username, ip);
    const { store } = this.deps;
    // A pair or address already known to be over its limit is answered without the database.
    for (const limit of ['pair', 'address'] as const) {
      const ms = store.localRetryAfterMs([buckets[limit].name]);
      if (ms > 0) return { ms, limit, counts: [] };
    }
    const counts = await store.hit([buckets.pair, buckets.address, buckets.account]);
    const countOf = (limit: LoginLimit) => counts.find((count) => count.bucket.name === buckets[limit].name);
    for (const limit of ['pair', 'address'] as const) {
      const count = countOf(limit);
      if (count && count.hits > count.bucket.rule.limit) {
        store.trip(count);
        return this.refuse(counts, { ms: this.msUntil(count), limit });
      }
    }
    const account = countOf('account');
    if (account && account.hits > account.bucket.rule.limit && !(await this.isKnownAddress(username, ip))) {
      // Slowed, not locked: one attempt per address per interval, so strangers cannot keep the owner out.
      const [slow] = await store.hit([this.slowBucket(username, ip)]);
      if (slow && slow.hits > slow.bucket.rule.limit) {
        return this.refuse(counts, { ms: this.msUntil(slow), limit: 'account' });
      }
    }
    return { ms: 0, counts };
  }

  /** Over the account limit, an address the account never signed in from may try once per interval. */
  private slowBucket(username: string, ip: string): Bucket {
    return {
      name: bucketName('login-slow', `${throttleSourceOf(ip)}|${username.toLowerCase()}`),
      rule: { limit: 1, windowMs: this.deps.settings.loginSlowMs },
    };
  }

  /** A refused attempt is taken back out of the counts: they hold attempts whose password was checked. */
  private async refuse(
    counts: readonly BucketCount[],
    refusal: { ms: number; limit: LoginLimit },
  ): Promise<LoginAttempt> {
    await this.deps.store.unhit(counts);
    return { ...refusal, counts: [] };
  }

  /**
   * The attempt's password was wrong (it was already counted): returns the limits this failure reached, to
   * be audited once each, and remembers a tripped pair or address in this process.
   */
  failed(attempt: LoginAttempt): LoginLimit[] {
    const engaged: LoginLimit[] = [];
    for (const count of attempt.counts) {
      const limit = (['pair', 'address', 'account'] as const).find((l) =>
        count.bucket.name.startsWith(`${bucketKinds[l]}:`),
      );
      if (!limit) continue;
      if (count.hits === count.bucket.rule.limit) engaged.push(limit);
      if (limit !== 'account' && count.hits >= count.bucket.rule.limit) this.deps.store.trip(count);
    }
    return engaged;
  }

  /**
   * A success clears the pair's count, takes the successful attempt back out of the address and account
   * counts (it was counted before the password was known), and remembers the address as known-good.
   */
  async recordSuccess(username: string, ip: string, attempt: LoginAttempt): Promise<void> {
    const buckets = this.buckets(username, ip);
    const connection = this.deps.orm.em.getConnection();
    await connection.execute(`delete from auth_throttle where bucket = ?`, [buckets.pair.name], 'run');
    await this.deps.store.unhit(attempt.counts.filter((count) => count.bucket.name !== buckets.pair.name));
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
  const longestWindowMs = Math.max(settings.mcpWindowMs, settings.loginWindowMs, settings.loginSlowMs);
  const timer = setInterval(() => {
    Promise.all([store.prune(longestWindowMs), login.prune()]).catch((error: unknown) =>
      log.warn({ err: error }, 'could not prune the authentication throttles'),
    );
  }, 10 * 60_000);
  timer.unref();
  return () => clearInterval(timer);
}
