import pg from 'pg';
import {
  type AuditRecord,
  auditColumns,
  auditRowValues,
  type ChainHead,
  headAfter,
  linkRecords,
} from './chain.js';

interface Pending {
  record: AuditRecord;
  resolve(): void;
  reject(error: unknown): void;
}

const MAX_BATCH = 1000;
/** Losing the head race this often in a row means something else appends in a tight loop; fail loudly. */
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
 * One statement, one round trip, autocommit: move the head only if it is still where this writer last saw
 * it, and insert the batch only if the head moved. Another writer (a control-plane transaction appending
 * under `FOR UPDATE`) makes the guard fail; the insert then writes nothing and the batch is relinked.
 */
const appendStatement = `with head as (
  update audit_chain_head set last_seq = $1, last_hash = $2
  where id = 1 and last_seq = $3 and last_hash = $4
  returning id
)
insert into audit_event (${auditColumns.join(', ')})
select * from unnest(${auditColumns.map((column, index) => `$${index + 5}::${arrayTypes[column]}[]`).join(', ')})
where exists (select 1 from head)`;

/**
 * Group commit for high-volume events (tool calls): every record waits until it is durable, but records that
 * arrive while a commit is in flight share the next one, so throughput does not stop at one transaction per
 * call. A failed commit fails every record in it, and the caller fails closed.
 *
 * It keeps the chain head in memory and writes through its own small pool, so a batch costs one round trip
 * and never waits behind the control plane's connections.
 */
export class AuditBatcher {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private head: ChainHead | undefined;
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    // A connection that breaks while idle is dropped by the pool; the next batch opens a fresh one.
    this.pool.on('error', () => {});
  }

  append(record: AuditRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          await this.write(batch.map((item) => item.record));
          for (const item of batch) item.resolve();
        } catch (error) {
          if (batch.length === 1) {
            batch[0]?.reject(error);
            continue;
          }
          // Find the culprit: retry one by one, so only a record that cannot be stored fails its call.
          for (const item of batch) {
            await this.write([item.record]).then(item.resolve, item.reject);
          }
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(records: AuditRecord[]): Promise<void> {
    for (let race = 0; race < MAX_HEAD_RACES; race++) {
      const head = this.head ?? (await this.loadHead());
      const chained = linkRecords(head, records);
      const next = headAfter(chained);
      const columns = auditColumns.map(() => [] as unknown[]);
      for (const row of chained) {
        auditRowValues(row).forEach((value, index) => {
          columns[index]?.push(value instanceof Date ? value.toISOString() : value);
        });
      }
      let inserted: number | null;
      try {
        ({ rowCount: inserted } = await this.pool.query(appendStatement, [
          next.seq,
          next.hash,
          head.seq,
          head.hash,
          ...columns,
        ]));
      } catch (error) {
        this.head = undefined;
        throw error;
      }
      if (inserted === chained.length) {
        this.head = next;
        return;
      }
      this.head = undefined;
    }
    throw new Error(`audit chain head kept moving under ${MAX_HEAD_RACES} attempts to append`);
  }

  private async loadHead(): Promise<ChainHead> {
    const { rows } = await this.pool.query<{ last_seq: string; last_hash: string }>(
      'select last_seq, last_hash from audit_chain_head where id = 1',
    );
    const [row] = rows;
    if (!row) throw new Error('audit chain head is missing; migrations have not run');
    return { seq: Number(row.last_seq), hash: row.last_hash };
  }

  /** Resolves once everything queued so far is written (or failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Drains, then closes the pool. */
  async close(): Promise<void> {
    await this.drain();
    await this.pool.end();
  }
}
