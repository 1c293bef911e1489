import type { Clock } from '../../src/platform/clock.js';

/**
 * The instant the audit suites treat as now. Each vitest project of the audit suites sets
 * GATEHOUSE_TEST_NOW to a different edge of the calendar (a month's first instant, a month's last, a year's
 * last: see vitest.config.ts); without it, a fixed mid-month instant. Never the machine's date.
 */
export const TEST_NOW = new Date(process.env.GATEHOUSE_TEST_NOW ?? '2027-06-15T12:00:00.000Z');
if (Number.isNaN(TEST_NOW.getTime())) throw new Error('GATEHOUSE_TEST_NOW is not an ISO instant');

/**
 * Starts at `anchor` and moves forward as the process's monotonic time does, as a real clock would (so an
 * event written now is inside a range that ends "now" a moment later), whatever the machine's date.
 * The anchors sit an hour before any boundary they test, so a suite never crosses one mid-run by chance.
 */
export class AnchoredClock implements Clock {
  private readonly startedAt = performance.now();

  constructor(private readonly anchor: Date = TEST_NOW) {}

  now(): Date {
    return new Date(this.anchor.getTime() + Math.floor(performance.now() - this.startedAt));
  }
}

/** A clock that stands still until a test moves it. */
export class ManualClock implements Clock {
  private at: number;

  constructor(at: Date = TEST_NOW) {
    this.at = at.getTime();
  }

  now(): Date {
    return new Date(this.at);
  }

  advance(ms: number): void {
    this.at += ms;
  }
}

/** The first instant (UTC) of the month `offset` months from `at`'s month. */
export const monthStart = (at: Date, offset = 0) =>
  new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));

/** `YYYY_MM` of an instant's month in UTC, as partition and archive names spell it. */
export const monthTag = (at: Date) =>
  `${at.getUTCFullYear()}_${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
