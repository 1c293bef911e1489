import pg from 'pg';

/** Events one fold transaction reads at most; a larger backlog is folded in several. */
const FOLD_EVENTS = 50_000;
/** How long after the first write a fold waits, so the writes of that stretch are folded together. */
const FOLD_DELAY_MS = 1_000;

/**
 * Folds new audit events into the usage rollups off the insert path (ADR 0027). Lazy: armed by a write
 * (never an idle timer), folding everything above the stored watermark in `audit_fold_usage` transactions.
 * Several replicas may run one: the function's advisory lock lets one fold at a time, and a replica that
 * finds it taken folds again later. Usage answers stay exact without it (readers add the unfolded tail);
 * folding only keeps that tail short.
 */
export class UsageAggregator {
  private readonly pool: pg.Pool;
  private timer: NodeJS.Timeout | undefined;
  private folding: Promise<void> | undefined;
  private closed = false;
  /** Events folded by this process (an operational metric; tests read it). */
  folded = 0;

  constructor(
    databaseUrl: string,
    private readonly onError: (error: unknown) => void = () => {},
    private readonly delayMs = FOLD_DELAY_MS,
  ) {
    // One connection, closed when idle: an idle server holds none for folding.
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 1, idleTimeoutMillis: 10_000 });
    this.pool.on('error', () => {});
  }

  /** Events were written: fold them soon. Cheap enough to call after every batch. */
  arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.fold().catch(this.onError);
    }, this.delayMs);
    this.timer.unref();
  }

  /** Folds everything above the watermark now (at start, and in tests); resolves when done. */
  async fold(): Promise<void> {
    if (this.folding) {
      await this.folding;
      // A write armed during that fold may be above what it read: fold again.
    }
    this.folding ??= this.foldAll().finally(() => {
      this.folding = undefined;
    });
    return this.folding;
  }

  private async foldAll(): Promise<void> {
    for (;;) {
      const { rows } = await this.pool.query<{ events: number }>('select audit_fold_usage($1) as events', [
        FOLD_EVENTS,
      ]);
      const events = rows[0]?.events ?? 0;
      // Another replica is folding: it reads what this one would; look again after a delay.
      if (events < 0) {
        this.arm();
        return;
      }
      this.folded += events;
      if (events < FOLD_EVENTS) return;
    }
  }

  /** Stops arming, waits for a fold in progress, closes the connection. What is left is folded at next start. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.folding?.catch(() => {});
    await this.pool.end();
  }
}
