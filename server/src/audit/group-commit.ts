import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../platform/db.js';
import { type AuditRecord, appendToChain } from './chain.js';

interface Pending {
  record: AuditRecord;
  resolve(): void;
  reject(error: unknown): void;
}

const MAX_BATCH = 1000;

/**
 * Group commit for high-volume events (tool calls): every record waits until it is durable, but records that
 * arrive while a commit is in flight share the next one, so throughput does not stop at one transaction per
 * call. A failed commit fails every record in it, and the caller fails closed.
 */
export class AuditBatcher {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly orm: Orm) {}

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
    await this.orm.em.fork().transactional((em) => appendToChain(em as EntityManager, records));
  }

  /** Resolves once everything queued so far is written (or failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}
