import { type Orm, pendingMigrations } from './db.js';

export type Readiness = { ready: true } | { ready: false; reason: string };

/** How long `/readyz` waits for the database before answering 503. */
export const READINESS_TIMEOUT_MS = 2_000;

/**
 * The database check behind `/readyz`, bounded in time and single-flight. A frozen database (SIGSTOP, a
 * dead network path) never answers: the probe answers "not ready" after the timeout instead of hanging,
 * and concurrent probes share the one check in flight rather than each taking a pooled connection.
 */
export class ReadinessProbe {
  private inFlight: Promise<Readiness> | undefined;

  constructor(
    private readonly orm: Orm,
    private readonly timeoutMs = READINESS_TIMEOUT_MS,
  ) {}

  async check(): Promise<Readiness> {
    this.inFlight ??= this.query().finally(() => {
      this.inFlight = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Readiness>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs, { ready: false, reason: 'database not answering' });
    });
    try {
      return await Promise.race([this.inFlight, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async query(): Promise<Readiness> {
    try {
      await this.orm.em.getConnection().execute('select 1');
      const pending = await pendingMigrations(this.orm);
      return pending > 0 ? { ready: false, reason: `${pending} pending migration(s)` } : { ready: true };
    } catch {
      return { ready: false, reason: 'database unreachable' };
    }
  }
}
