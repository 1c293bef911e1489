import type { Clock } from '../platform/clock.js';

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  readonly failures: number;
  /** The first cool-down; each failed trial doubles it, up to `maxCooldownMs`. */
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
}

/** May a call go ahead: yes, yes as the one trial call after a cool-down, or not for `waitMs` more. */
export type BreakerVerdict =
  | { readonly kind: 'closed' }
  | { readonly kind: 'trial' }
  | { readonly kind: 'open'; readonly waitMs: number; readonly trialRunning: boolean };

/** Words for a call an open breaker refuses: when a call may try again (`own`: the caller's own breaker). */
export function openCircuitWhen(verdict: { waitMs: number; trialRunning: boolean }, own = false): string {
  if (verdict.trialRunning)
    return own ? 'one of your calls is trying it again now' : 'one call is trying it again now';
  const seconds = Math.ceil(verdict.waitMs / 1000);
  return own
    ? `your calls to it are refused for ${seconds}s, then one may try again`
    : `calls are refused for ${seconds}s, then one call tries it again`;
}

const CLOSED: BreakerVerdict = { kind: 'closed' };
const TRIAL: BreakerVerdict = { kind: 'trial' };

/**
 * A circuit breaker that heals by itself: it opens after `failures` consecutive failures, refuses calls
 * for a cool-down, then lets exactly one trial call through (half-open). An answered trial closes it; a
 * failed one opens it again for twice as long. Time comes from the injected clock, never from timers.
 */
export class Breaker {
  private consecutive = 0;
  private opens = 0;
  private openUntilMs = 0;
  private trialRunning = false;

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly clock: Clock,
  ) {}

  get failures(): number {
    return this.consecutive;
  }

  get isOpen(): boolean {
    return this.consecutive >= this.policy.failures;
  }

  /** When the cool-down ends (while open). */
  get openUntil(): Date {
    return new Date(this.openUntilMs);
  }

  /** Milliseconds of cool-down left; 0 once a trial may run. */
  remainingMs(): number {
    return this.isOpen ? Math.max(0, this.openUntilMs - this.clock.now().getTime()) : 0;
  }

  /** Decides one call; a `trial` verdict must be ended with `succeeded`, `failed` or `trialEnded`. */
  admit(): BreakerVerdict {
    if (!this.isOpen) return CLOSED;
    const waitMs = this.remainingMs();
    if (waitMs > 0 || this.trialRunning) return { kind: 'open', waitMs, trialRunning: this.trialRunning };
    this.trialRunning = true;
    return TRIAL;
  }

  /** The downstream answered: the breaker closes and the count starts over. */
  succeeded(): void {
    this.consecutive = 0;
    this.opens = 0;
    this.trialRunning = false;
  }

  /** One more failure in a row; returns true when the breaker is (again) open. */
  failed(): boolean {
    this.consecutive++;
    this.trialRunning = false;
    if (!this.isOpen) return false;
    this.opens++;
    const cooldown = Math.min(
      this.policy.cooldownMs * 2 ** Math.min(this.opens - 1, 30),
      this.policy.maxCooldownMs,
    );
    this.openUntilMs = this.clock.now().getTime() + cooldown;
    return true;
  }

  /** A trial call ended without telling whether the downstream works (timeout, cancel): another may try. */
  trialEnded(): void {
    this.trialRunning = false;
  }
}

/**
 * One breaker per user of a shared instance, for crashes that only that user's calls can have caused.
 * Entries exist only while a user has failures on record, so the map is as small as the misbehaving users.
 */
export class CallerBreakers {
  private readonly breakers = new Map<string, Breaker>();

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly clock: Clock,
  ) {}

  admit(caller: string): BreakerVerdict {
    return this.breakers.get(caller)?.admit() ?? CLOSED;
  }

  breaker(caller: string): Breaker | undefined {
    return this.breakers.get(caller);
  }

  failed(caller: string): Breaker {
    let breaker = this.breakers.get(caller);
    if (!breaker) {
      breaker = new Breaker(this.policy, this.clock);
      this.breakers.set(caller, breaker);
    }
    breaker.failed();
    return breaker;
  }

  succeeded(caller: string): void {
    this.breakers.delete(caller);
  }

  trialEnded(caller: string): void {
    this.breakers.get(caller)?.trialEnded();
  }
}
