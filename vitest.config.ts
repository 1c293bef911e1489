import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'schema/test/**/*.test.ts',
      'server/test/**/*.test.ts',
      'sdk/test/**/*.test.ts',
      'bench/test/**/*.test.ts',
      'web/test/**/*.test.ts',
    ],
    globalSetup: ['server/test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
