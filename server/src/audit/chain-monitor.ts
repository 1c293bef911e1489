import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Clock } from '../platform/clock.js';
import { type ChainAnchor, type ChainVerification, latestCheckpoint, verifyAuditChain } from './verify.js';

export interface ChainStatus {
  /** False once any check found a broken link; stays false until a full check passes again. */
  intact: boolean;
  verifiedThrough: number;
  /** Where verification starts: the genesis (0) or the newest retention checkpoint. */
  checkpointThrough: number;
  brokenAt: number | null;
  problem: string | null;
  checkedAt: Date | null;
  lastFullCheckAt: Date | null;
}

const FULL_CHECK_INTERVAL_MS = 24 * 3_600_000;

/**
 * Keeps the chain verified without walking a million events per question: a full walk at start and daily,
 * and on demand an incremental walk from the last verified link to the current head. The incremental walk
 * trusts what was already verified; the daily full walk is what finds later edits of old rows.
 */
export class ChainMonitor {
  private verified: ChainAnchor | undefined;
  private current: ChainStatus = {
    intact: true,
    verifiedThrough: 0,
    checkpointThrough: 0,
    brokenAt: null,
    problem: null,
    checkedAt: null,
    lastFullCheckAt: null,
  };
  private inFlight: Promise<ChainStatus> | undefined;
  private inFlightFull = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly em: () => EntityManager,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.check({ full: true });
    this.timer = setInterval(() => void this.check({ full: true }), FULL_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
  }

  status(): ChainStatus {
    return this.current;
  }

  /** Catches up to the current head, unless a walk is already running (then its last result stands). */
  refresh(): Promise<ChainStatus> {
    return this.inFlight ? Promise.resolve(this.current) : this.check();
  }

  /**
   * Verifies what was appended since the last check (or everything, with `full`); one walk at a time. A full
   * check asked for while an incremental one runs follows it rather than being lost.
   */
  check(options: { full?: boolean } = {}): Promise<ChainStatus> {
    const full = options.full === true;
    if (this.inFlight && full && !this.inFlightFull) {
      return this.inFlight.then(() => this.check({ full: true }));
    }
    if (!this.inFlight) {
      this.inFlightFull = full;
      this.inFlight = this.walk(full).finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  private async walk(full: boolean): Promise<ChainStatus> {
    try {
      const em = this.em();
      const checkpoint = await latestCheckpoint(em);
      const resume = !full && this.verified && this.verified.id > checkpoint.id ? this.verified : undefined;
      let result: ChainVerification = await verifyAuditChain(em, resume ?? checkpoint);
      if (!result.ok) {
        // Retention may have dropped the month under this walk: start again after its new checkpoint.
        const moved = await latestCheckpoint(em);
        if (moved.id > (resume ?? checkpoint).id) result = await verifyAuditChain(em, moved);
      }
      const now = this.clock.now();
      if (result.ok) {
        this.verified = { id: result.verifiedThrough, hash: result.lastHash };
        if (full || this.current.intact) {
          this.current = {
            intact: true,
            verifiedThrough: result.verifiedThrough,
            checkpointThrough: checkpoint.id,
            brokenAt: null,
            problem: null,
            checkedAt: now,
            lastFullCheckAt: full ? now : this.current.lastFullCheckAt,
          };
        }
      } else {
        this.log.error(
          { brokenAt: result.brokenAt, problem: result.problem },
          'audit chain verification failed',
        );
        this.current = {
          intact: false,
          verifiedThrough: result.verifiedThrough,
          checkpointThrough: checkpoint.id,
          brokenAt: result.brokenAt,
          problem: result.problem,
          checkedAt: now,
          lastFullCheckAt: full ? now : this.current.lastFullCheckAt,
        };
      }
    } catch (error) {
      this.log.error({ err: error }, 'audit chain verification could not run');
    }
    return this.current;
  }
}
