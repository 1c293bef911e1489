import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../server/test/support/database.js';
import { formatTable, runBenchmark } from '../src/benchmark.js';

/** A few seconds of the real benchmark, so it cannot rot: both arms run and every call is audited. */
describe('benchmark smoke run', () => {
  it('runs both arms and finds one durable audit record per successful call through Gatehouse', async () => {
    const db = await createTestDatabase();
    try {
      const report = await runBenchmark({ concurrency: [2], seconds: 1, rounds: 1, databaseUrl: db.url });
      const [step] = report.steps;
      expect(step?.gatehouse.calls).toBeGreaterThan(0);
      expect(step?.direct.calls).toBeGreaterThan(0);
      expect(step?.gatehouse.errors).toBe(0);
      expect(step?.direct.errors).toBe(0);
      const [row] = await db.query<{ count: string }>(
        "select count(*) from audit_event where action = 'tool.call' and outcome = 'success'",
      );
      expect(Number(row?.count)).toBe(report.gatehouseCalls);
      expect(formatTable(report)).toMatch(/A gatehouse[\s\S]*B direct/);
    } finally {
      await db.drop();
    }
  }, 180_000);
});
