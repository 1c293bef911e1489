/**
 * The one source of "now" for code whose behaviour depends on the time: audit timestamps (and so the month
 * partition an event lands in), retention, partition upkeep, the chain monitor, throttles and breakers.
 * Production uses `systemClock`; tests inject a clock fixed at an instant of their choosing, so no test
 * depends on the day it runs.
 */
export interface Clock {
  /** The current instant. */
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
