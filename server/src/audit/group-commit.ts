import pg from 'pg';
import {
  type AuditRecord,
  auditColumns,
  auditRowValues,
  type ChainedRecord,
  type ChainHead,
  headAfter,
  linkRecords,
} from './chain.js';
import { UsageAggregator } from './usage-aggregator.js';

interface Pending {
  record: AuditRecord;
  resolve(): void;
  reject(error: unknown): void;
  /** Times this record's batch lost the head to another writer. */
  races: number;
  /** Set after its batch failed: written in a batch of its own, so only a bad record fails its call. */
  alone: boolean;
}

const MAX_BATCH = 1000;
/** Batches in flight at once: the next one is linked and sent while the previous one commits. */
const PIPELINE_DEPTH = 2;
/** Losing the head race this often means something else appends in a tight loop; fail loudly. */
const MAX_HEAD_RACES = 20;

const arrayTypes: Record<(typeof auditColumns)[number], string> = {
  id: 'bigint',
  occurred_at: 'timestamptz',
  details: 'jsonb',
  action: 'text',
  actor_type: 'text',
  actor_user_id: 'text',
  actor_token_id: 'text',
  actor_client_id: 'text',
  actor_label: 'text',
  target_type: 'text',
  target_id: 'text',
  target_label: 'text',
  outcome: 'text',
  reason: 'text',
  ip: 'text',
  request_id: 'text',
  prev_hash: 'text',
  hash: 'text',
};

/**
 * One statement, one round trip, autocommit: move the head only if it is where this batch was linked, and
 * insert the batch only if the head moved. When the head is elsewhere (a control-plane transaction appended
 * under `FOR UPDATE`, or the batch before this one failed), nothing is written and the batch is relinked.
 * The guard is in the SET, not the WHERE: the row always matches, so a pipelined batch waits for the lock
 * held by the batch before it and then judges the committed head (a WHERE guard would be judged against the
 * statement's snapshot and fail without waiting).
 */
const appendStatement = `with head as (
  update audit_chain_head
  set last_seq = case when last_seq = $3 and last_hash = $4 then $1 else last_seq end,
      last_hash = case when last_seq = $3 and last_hash = $4 then $2 else last_hash end
  where id = 1
  returning last_hash = $2 as moved
)
insert into audit_event (${auditColumns.join(', ')})
select * from unnest(${auditColumns.map((column, index) => `$${index + 5}::${arrayTypes[column]}[]`).join(', ')})
where exists (select 1 from head where moved)`;

/**
 * Group commit for high-volume events (tool calls): every record waits until it is durable, but records that
 * arrive while a commit is in flight share the next one, so throughput does not stop at one transaction per
 * call. A record that cannot be written fails its caller, who fails closed.
 *
 * The chain head is kept in memory: batches are linked in the order they are sent, and two can be in flight
 * on the batcher's own connections, so linking and sending the next overlaps the commit of the previous;
 * the head's row lock orders their commits.
 */
export class AuditBatcher {
  private queue: Pending[] = [];
  /** The head after the last batch sent, assuming it commits; unknown until loaded or after a failure. */
  private tip: ChainHead | undefined;
  private loadingTip = false;
  private inFlight = 0;
  private dispatchScheduled = false;
  private idle: (() => void)[] = [];
  private readonly pool: pg.Pool;
  /** Folds what this batcher writes into the usage rollups, off the insert path (ADR 0027). */
  readonly usage: UsageAggregator;

  constructor(databaseUrl: string, options: { onUsageError?: (error: unknown) => void } = {}) {
    // A database that cannot be reached fails calls closed within seconds instead of hanging them.
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: PIPELINE_DEPTH,
      connectionTimeoutMillis: 10_000,
    });
    // A connection that breaks while idle is dropped by the pool; the next batch opens a fresh one.
    this.pool.on('error', () => {});
    this.usage = new UsageAggregator(databaseUrl, options.onUsageError);
    // Catch up with what earlier runs (or other replicas) left unfolded.
    this.usage.arm();
  }

  append(record: AuditRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject, races: 0, alone: false });
      this.scheduleDispatch();
    });
  }

  /** Records appended in the same turn of the event loop (callers woken by one commit) share a batch. */
  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.tip === undefined) {
      // After a failure, wait for the batches already sent: they may still move the head.
      if (this.inFlight === 0 && this.queue.length > 0 && !this.loadingTip) void this.reloadTip();
      this.notifyIdle();
      return;
    }
    while (this.inFlight < PIPELINE_DEPTH && this.queue.length > 0 && this.tip) {
      const batch = this.takeBatch();
      const base = this.tip;
      let chained: ChainedRecord[];
      try {
        chained = linkRecords(
          base,
          batch.map((item) => item.record),
        );
      } catch (error) {
        // A record that cannot even be hashed fails only its own caller: find it by linking one at a time.
        const [only] = batch;
        if (batch.length === 1 && only) only.reject(error);
        else this.queue.unshift(...batch.map((item) => ({ ...item, alone: true })));
        continue;
      }
      this.tip = headAfter(chained);
      this.inFlight++;
      void this.send(base, chained).then(
        (written) => this.settle(batch, written ? 'written' : 'raced'),
        // The connection may have died after the commit: then the last row is there and nothing is retried.
        (error: unknown) =>
          this.committed(chained).then(
            (done) => this.settle(batch, done ? 'written' : error),
            () => this.settle(batch, error),
          ),
      );
    }
    this.notifyIdle();
  }

  private takeBatch(): Pending[] {
    if (this.queue[0]?.alone) return this.queue.splice(0, 1);
    const end = this.queue.findIndex((item, index) => item.alone || index >= MAX_BATCH);
    return this.queue.splice(0, end < 0 ? this.queue.length : end);
  }

  private settle(batch: Pending[], outcome: 'written' | 'raced' | unknown): void {
    this.inFlight--;
    if (outcome === 'written') {
      for (const item of batch) item.resolve();
      this.usage.arm();
    } else {
      this.tip = undefined;
      const retry: Pending[] = [];
      for (const item of batch) {
        if (outcome !== 'raced' && (batch.length === 1 || item.alone)) {
          item.reject(outcome);
        } else if (outcome === 'raced' && ++item.races >= MAX_HEAD_RACES) {
          item.reject(
            new Error(`the audit chain head kept moving under ${MAX_HEAD_RACES} attempts to append`),
          );
        } else {
          // A failed batch is retried record by record to find the one that cannot be stored.
          retry.push({ ...item, alone: item.alone || outcome !== 'raced' });
        }
      }
      this.queue.unshift(...retry);
    }
    this.dispatch();
  }

  private async committed(chained: ChainedRecord[]): Promise<boolean> {
    const last = chained.at(-1);
    if (!last) return false;
    // By id (the partitions' index) and hash: a row with this id and another hash is someone else's link.
    const { rowCount } = await this.pool.query('select 1 from audit_event where id = $1 and hash = $2', [
      last.id,
      last.hash,
    ]);
    return rowCount === 1;
  }

  private async send(base: ChainHead, chained: ChainedRecord[]): Promise<boolean> {
    const next = headAfter(chained);
    const columns = auditColumns.map(() => [] as unknown[]);
    for (const row of chained) {
      auditRowValues(row).forEach((value, index) => {
        columns[index]?.push(value instanceof Date ? value.toISOString() : value);
      });
    }
    const { rowCount } = await this.pool.query(appendStatement, [
      next.seq,
      next.hash,
      base.seq,
      base.hash,
      ...columns,
    ]);
    return rowCount === chained.length;
  }

  private async reloadTip(): Promise<void> {
    this.loadingTip = true;
    try {
      const { rows } = await this.pool.query<{ last_seq: string; last_hash: string }>(
        'select last_seq, last_hash from audit_chain_head where id = 1',
      );
      const [row] = rows;
      if (!row) throw new Error('audit chain head is missing; migrations have not run');
      this.tip = { seq: Number(row.last_seq), hash: row.last_hash };
    } catch (error) {
      // Without a head nothing can be linked: everything waiting fails closed, and the next append retries.
      for (const item of this.queue.splice(0)) item.reject(error);
    } finally {
      this.loadingTip = false;
    }
    this.dispatch();
  }

  private notifyIdle(): void {
    if (this.inFlight > 0 || this.queue.length > 0 || this.loadingTip) return;
    for (const wake of this.idle.splice(0)) wake();
  }

  /** Resolves once everything queued so far is written (or failed). */
  drain(): Promise<void> {
    return new Promise((resolve) => {
      this.idle.push(resolve);
      this.notifyIdle();
    });
  }

  /** Drains, then closes the pool and the usage folder. */
  async close(): Promise<void> {
    await this.drain();
    await this.usage.close();
    await this.pool.end();
  }
}
