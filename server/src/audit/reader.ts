import pg from 'pg';
import { DomainError } from '../platform/errors.js';

/** PostgreSQL's "canceling statement due to statement timeout". */
const QUERY_CANCELED = '57014';

/**
 * The explorer's own small pool (8 connections): read-only sessions with a statement timeout, so no explorer query can
 * change data or hold the database for long, and its load never queues behind the control plane's pool.
 * Counts the statements it runs (an operational metric; tests use it to prove batching).
 */
export class AuditReader {
  private readonly pool: pg.Pool;
  private executed = 0;

  constructor(
    databaseUrl: string,
    readonly statementTimeoutMs = 10_000,
  ) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: 8,
      idleTimeoutMillis: 30_000,
      options: `-c default_transaction_read_only=on -c statement_timeout=${statementTimeoutMs}`,
    });
    // An idle pooled connection that drops is replaced on the next query; it must not crash the process.
    this.pool.on('error', () => {});
  }

  get statements(): number {
    return this.executed;
  }

  async rows<T>(text: string, values: readonly unknown[] = []): Promise<T[]> {
    this.executed += 1;
    try {
      return (await this.pool.query(text, values as unknown[])).rows as T[];
    } catch (error) {
      if ((error as { code?: string }).code === QUERY_CANCELED) {
        throw new DomainError(
          'CAPACITY_EXCEEDED',
          `The query took longer than ${this.statementTimeoutMs / 1000} s; narrow the time range or filters`,
        );
      }
      throw error;
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** Collects WHERE conditions with numbered parameters: values always travel as parameters, never as text. */
export class SqlConditions {
  private readonly conditions: string[] = [];

  /** `params` of another SqlConditions numbers this one's after its own, for two parts of one statement. */
  constructor(readonly params: unknown[] = []) {}

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(condition: string): this {
    this.conditions.push(condition);
    return this;
  }

  get where(): string {
    return this.conditions.length > 0 ? `where ${this.conditions.join(' and ')}` : '';
  }
}
