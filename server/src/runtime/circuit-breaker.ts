import type { Clock } from '../platform/clock.js';

export interface BreakerPolicy {
  /** Failures (weighted) within `windowMs` that open the breaker. */
  readonly failures: number;
  /** How long a failure counts. An answered call does not forget it; only an answered trial does. */
  readonly windowMs: number;
  /** The first cool-down; each failed trial doubles it, up to `maxCooldownMs`. */
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
}

/** At most this many failures are remembered (older ones drop first); far more than any threshold needs. */
const MAX_REMEMBERED = 64;

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
 * A circuit breaker that heals by itself: it opens once its failures within a time window reach
 * `failures` (a crash one user alone can have caused weighs less for an instance: ADR 0020), refuses calls
 * for a cool-down, then lets exactly one trial call through (half-open). Only an answered trial closes it and
 * forgets the failures; an answered call outside a trial does not, so answered calls between failures cannot
 * keep it closed. A failed trial opens it again for twice as long. Time comes from the injected clock.
 */
export class Breaker {
  /** Failures within the window: when, and how much each counts. */
  private readonly recent: { at: number; weight: number }[] = [];
  private open = false;
  private opens = 0;
  private openUntilMs = 0;
  private trialRunning = false;

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly clock: Clock,
  ) {}

  /** Failures within the window, rounded down (for status and messages). */
  get failures(): number {
    return Math.floor(this.weight());
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Closed, with no failure left in the window. */
  get isClear(): boolean {
    return !this.open && this.weight() === 0;
  }

  /** When the cool-down ends (while open). */
  get openUntil(): Date {
    return new Date(this.openUntilMs);
  }

  /** Milliseconds of cool-down left; 0 once a trial may run. */
  remainingMs(): number {
    return this.open ? Math.max(0, this.openUntilMs - this.clock.now().getTime()) : 0;
  }

  /** Decides one call; a `trial` verdict must be ended with `succeeded`, `failed` or `trialEnded`. */
  admit(): BreakerVerdict {
    if (!this.open) return CLOSED;
    const waitMs = this.remainingMs();
    if (waitMs > 0 || this.trialRunning) return { kind: 'open', waitMs, trialRunning: this.trialRunning };
    this.trialRunning = true;
    return TRIAL;
  }

  /** The trial call was answered: the breaker closes and its failures are forgotten. */
  succeeded(): void {
    this.recent.length = 0;
    this.open = false;
    this.opens = 0;
    this.trialRunning = false;
  }

  /** One more failure (`weight` 1 unless reduced); returns true when the breaker is (again) open. */
  failed(weight = 1): boolean {
    this.trialRunning = false;
    this.recent.push({ at: this.clock.now().getTime(), weight });
    if (this.recent.length > MAX_REMEMBERED) this.recent.shift();
    if (!this.open && this.weight() < this.policy.failures) return false;
    this.open = true;
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

  /** The weight of the failures within the window (older ones are dropped). */
  private weight(): number {
    const since = this.clock.now().getTime() - this.policy.windowMs;
    while (this.recent.length > 0 && (this.recent[0]?.at ?? 0) <= since) this.recent.shift();
    let total = 0;
    for (const failure of this.recent) total += failure.weight;
    return total;
  }
}

/**
 * One breaker per user of a shared instance, for crashes that only that user's calls can have caused.
 * Entries exist only while a user has failures on record (until their trial is answered, or for as long as
 * the window keeps a failure), so the map is as small as the misbehaving users.
 */
export class CallerBreakers {
  private readonly breakers = new Map<string, Breaker>();

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly clock: Clock,
  ) {}

  admit(caller: string): BreakerVerdict {
    const breaker = this.breakers.get(caller);
    if (!breaker) return CLOSED;
    if (breaker.isClear) {
      this.breakers.delete(caller);
      return CLOSED;
    }
    return breaker.admit();
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

  /** The caller's trial was answered: their breaker closes and is forgotten. */
  succeeded(caller: string): void {
    this.breakers.delete(caller);
  }

  trialEnded(caller: string): void {
    this.breakers.get(caller)?.trialEnded();
  }
}
