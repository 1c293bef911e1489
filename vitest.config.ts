import { configDefaults, defineConfig } from 'vitest/config';

const AUDIT_SUITES = 'server/test/audit/**/*.test.ts';

/**
 * The audit suites depend on the calendar (month partitions, retention, usage buckets), so they run once per
 * fixed "now" at the calendar's edges (server/test/support/clock.ts); nothing reads the machine's date. The
 * anchors sit an hour before the edge where one comes next, so a suite's own run time never crosses it.
 */
const AUDIT_CLOCKS: Record<string, string> = {
  'month-start': '2027-03-01T00:00:00.000Z',
  'month-end': '2027-01-31T23:00:00.000Z',
  'year-end': '2027-12-31T23:00:00.000Z',
};

export default defineConfig({
  test: {
    globalSetup: ['server/test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'gatehouse',
          include: [
            'schema/test/**/*.test.ts',
            'server/test/**/*.test.ts',
            'sdk/test/**/*.test.ts',
            'bench/test/**/*.test.ts',
            'web/test/**/*.test.ts',
          ],
          exclude: [...configDefaults.exclude, AUDIT_SUITES],
        },
      },
      ...Object.entries(AUDIT_CLOCKS).map(([edge, now]) => ({
        extends: true as const,
        test: { name: `audit@${edge}`, include: [AUDIT_SUITES], env: { GATEHOUSE_TEST_NOW: now } },
      })),
    ],
  },
});
