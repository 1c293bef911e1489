import type { Clock } from '../platform/clock.js';
import type { Orm } from '../platform/db.js';

/** At most `limit` failures per fixed window of `windowMs` (windows start at multiples of it, in UTC). */
export interface ThrottleRule {
  readonly limit: number;
  readonly windowMs: number;
}

export interface Bucket {
  /** `<kind>:<subject>`, e.g. `mcp-ip:203.0.113.9`, `login-pair:203.0.113.9|alice`. */
  readonly name: string;
  readonly rule: ThrottleRule;
}

export interface BucketCount {
  readonly bucket: Bucket;
  /** Failures counted in the bucket's current window, every process included. */
  readonly hits: number;
  /** When the current window ends (ms since the epoch). */
  readonly windowEndsAt: number;
}

const MAX_TRIPPED = 10_000;
const MAX_BUCKET_NAME = 300;

export const windowStartOf = (now: number, windowMs: number) => Math.floor(now / windowMs) * windowMs;

/** Bucket names are bounded before they reach the database; a longer subject can only be an attack. */
export const bucketName = (kind: string, subject: string) =>
  `${kind}:${subject.replaceAll('\u0000', '')}`.slice(0, MAX_BUCKET_NAME);

/**
 * Failure counters in PostgreSQL (`auth_throttle`), so every Gatehouse process on the database sees the same
 * counts (ADR 0018). One upsert statement per failure counts it in every bucket it belongs to; in front of
 * it, an in-process "tripped until" map answers a flood without touching the database at all.
 */
export class ThrottleStore {
  private readonly tripped = new Map<string, number>();

  constructor(
    private readonly orm: Orm,
    private readonly clock: Clock,
  ) {}

  /**
   * Milliseconds until every bucket in `names` may be tried again, as far as this process knows (no
   * database access); 0 when none is tripped here.
   */
  localRetryAfterMs(names: readonly string[]): number {
    const now = this.clock.now().getTime();
    let wait = 0;
    for (const name of names) {
      const until = this.tripped.get(name);
      if (until === undefined) continue;
      if (until <= now) this.tripped.delete(name);
      else wait = Math.max(wait, until - now);
    }
    return wait;
  }

  /** Remembers locally that `bucket` is over its limit until its window ends. */
  trip(count: BucketCount): void {
    if (this.tripped.size >= MAX_TRIPPED) this.forgetExpired();
    this.tripped.set(count.bucket.name, count.windowEndsAt);
  }

  /** Counts one failure in each bucket, with one statement; returns the counts after it. */
  async hit(buckets: readonly Bucket[]): Promise<BucketCount[]> {
    const now = this.clock.now().getTime();
    // Sorted and distinct: concurrent statements lock rows in the same order, and no row is hit twice.
    const unique = [...new Map(buckets.map((bucket) => [bucket.name, bucket])).values()].sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    const rows = await this.orm.em.getConnection().execute<{ bucket: string; hits: number }[]>(
      `insert into auth_throttle (bucket, window_start, hits)
       select b, w, 1 from jsonb_to_recordset(?::jsonb) as t(b text, w timestamptz) order by b
       on conflict (bucket) do update set
         hits = case when auth_throttle.window_start >= excluded.window_start
                     then auth_throttle.hits + 1 else 1 end,
         window_start = greatest(auth_throttle.window_start, excluded.window_start)
       returning bucket, hits`,
      [
        JSON.stringify(
          unique.map((bucket) => ({
            b: bucket.name,
            w: new Date(windowStartOf(now, bucket.rule.windowMs)).toISOString(),
          })),
        ),
      ],
    );
    const hits = new Map(rows.map((row) => [row.bucket, Number(row.hits)]));
    return unique.map((bucket) => this.countOf(bucket, hits.get(bucket.name) ?? 1, now));
  }

  /**
   * Takes back one hit counted by {@link hit} (an attempt that was refused, or that succeeded), in the same
   * window only: a window that has restarted since is left alone. One statement.
   */
  async unhit(counts: readonly BucketCount[]): Promise<void> {
    if (counts.length === 0) return;
    await this.orm.em.getConnection().execute(
      `update auth_throttle set hits = hits - 1
       from jsonb_to_recordset(?::jsonb) as t(b text, w timestamptz)
       where auth_throttle.bucket = t.b and auth_throttle.window_start = t.w and auth_throttle.hits > 0`,
      [
        JSON.stringify(
          counts.map((count) => ({
            b: count.bucket.name,
            w: new Date(count.windowEndsAt - count.bucket.rule.windowMs).toISOString(),
          })),
        ),
      ],
      'run',
    );
  }

  /** The current counts without adding to them (one read). */
  async peek(buckets: readonly Bucket[]): Promise<BucketCount[]> {
    const now = this.clock.now().getTime();
    const rows = await this.orm.em
      .getConnection()
      .execute<{ bucket: string; hits: number; window_start: Date }[]>(
        `select bucket, hits, window_start from auth_throttle
         where bucket in (select jsonb_array_elements_text(?::jsonb))`,
        [JSON.stringify(buckets.map((bucket) => bucket.name))],
      );
    const found = new Map(rows.map((row) => [row.bucket, row]));
    return buckets.map((bucket) => {
      const row = found.get(bucket.name);
      const current = row && new Date(row.window_start).getTime() >= windowStartOf(now, bucket.rule.windowMs);
      return this.countOf(bucket, current ? Number(row.hits) : 0, now);
    });
  }

  /** Deletes counters whose window ended more than `olderThanMs` ago. */
  async prune(olderThanMs: number): Promise<number> {
    const cutoff = new Date(this.clock.now().getTime() - olderThanMs);
    const result = await this.orm.em
      .getConnection()
      .execute<{ affectedRows?: number }>(
        `delete from auth_throttle where window_start < ?`,
        [cutoff],
        'run',
      );
    this.forgetExpired();
    return result.affectedRows ?? 0;
  }

  private countOf(bucket: Bucket, hits: number, now: number): BucketCount {
    return { bucket, hits, windowEndsAt: windowStartOf(now, bucket.rule.windowMs) + bucket.rule.windowMs };
  }

  private forgetExpired(): void {
    const now = this.clock.now().getTime();
    for (const [name, until] of this.tripped) if (until <= now) this.tripped.delete(name);
    // Still full: the oldest entries go first (a Map iterates in insertion order).
    for (const name of this.tripped.keys()) {
      if (this.tripped.size < MAX_TRIPPED) break;
      this.tripped.delete(name);
    }
  }
}
