import { describe, expect, inject, it } from 'vitest';
import '../../server/test/support/database.js';
import { formatTable, runBenchmark } from '../src/benchmark.js';
import { formatExplorerTable, runExplorerBench } from '../src/explorer.js';

/**
 * Every part of the real benchmark at a tiny size, so it cannot rot: both arms complete for both downstream
 * transports, every successful call through Gatehouse has its durable audit record, and after a SIGKILL
 * under load no acknowledged call is missing from the trail. Numbers are not asserted.
 */
describe('benchmark smoke run', () => {
  it('runs every measurement, with one audit record per successful call, also across a crash', async () => {
    const report = await runBenchmark({
      concurrency: [2],
      stdioConcurrency: [2],
      seconds: 1,
      rounds: 1,
      sessionSetups: 3,
      catalog: { mcps: 2, toolsPerMcp: 5, lists: 2 },
      perUser: { users: 2, warmCalls: 2 },
      idleSessions: 40,
      auditEvents: 1000,
      crash: { seconds: 2, concurrency: 4 },
      databaseUrl: inject('pgAdminUrl'),
    });
    for (const step of report.steps) {
      expect(step.gatehouse.calls).toBeGreaterThan(0);
      expect(step.direct.calls).toBeGreaterThan(0);
      expect(step.gatehouse.errors).toBe(0);
      expect(step.direct.errors).toBe(0);
    }
    expect(report.steps.map((step) => step.downstream)).toEqual(['streamable-http', 'stdio']);
    expect(report.auditCheck.auditRecords).toBe(report.auditCheck.successfulCalls);
    expect(report.toolsList).toMatchObject({ tools: 10, directTools: expect.any(Number) });
    expect(report.perUser.cold.count).toBe(2);
    expect(report.memory.sessions).toBe(40);
    expect(report.auditIngest.runs).toHaveLength(3);
    expect(report.crash.acknowledged).toBeGreaterThan(0);
    expect(report.crash.missing).toBe(0);
    expect(report.crash.maxUnacknowledgedPerClient).toBeLessThanOrEqual(1);
    expect(report.crash.chainVerified).toBe(true);
    expect(formatTable(report)).toMatch(/A gatehouse[\s\S]*B direct[\s\S]*crash test/);
  }, 300_000);

  it('seeds the audit trail and times every explorer query, each answering with real rows', async () => {
    const report = await runExplorerBench({
      events: 3000,
      days: 30,
      runs: 1,
      databaseUrl: inject('pgAdminUrl'),
      log: () => {},
    });
    // Setup writes a few events of its own before the seed.
    expect(report.totalEvents).toBeGreaterThanOrEqual(3000);
    expect(report.totalEvents).toBeLessThan(3100);
    expect(report.rollupRows.audit_usage_daily).toBeGreaterThan(0);
    expect(report.queries.filter((query) => query.target)).toHaveLength(4);
    for (const query of report.queries) expect(query.items, query.name).toBeGreaterThan(0);
    expect(formatExplorerTable(report)).toContain('usage(groupBy: [TOOL], bucket: DAY)');
  }, 300_000);
});
