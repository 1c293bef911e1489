import { describe, expect, inject, it } from 'vitest';
import '../../server/test/support/database.js';
import { formatTable, runBenchmark } from '../src/benchmark.js';
import { formatExplorerTable, runExplorerBench } from '../src/explorer.js';

/**
 * Every part of the real benchmark at a tiny size, so it cannot rot: every arm (the peers included) completes
 * for both downstream transports, every successful call through Gatehouse has its durable audit record, and after a SIGKILL
 * under load no acknowledged call is missing from the trail. Numbers are not asserted.
 */
describe('benchmark smoke run', () => {
  it('runs every measurement, with one audit record per successful call, also across a crash', async () => {
    const report = await runBenchmark({
      concurrency: [2],
      stdioConcurrency: [1],
      seconds: 0.5,
      rounds: 1,
      sessionSetups: 2,
      catalog: { mcps: 1, toolsPerMcp: 3, lists: 1 },
      perUser: { users: 1, warmCalls: 1 },
      idleSessions: 10,
      auditEvents: 300,
      crash: { seconds: 1, concurrency: 3 },
      lean: {
        concurrency: [2],
        seconds: 0.3,
        rounds: 1,
        warmupSeconds: 0.1,
        idleSeconds: 0.3,
        idleSessions: 6,
      },
      databaseUrl: inject('pgAdminUrl'),
    });
    for (const step of report.steps) {
      expect(step.gatehouse.calls).toBeGreaterThan(0);
      expect(step.direct.calls).toBeGreaterThan(0);
      expect(step.gatehouse.errors).toBe(0);
      expect(step.direct.errors).toBe(0);
    }
    expect(report.steps.map((step) => step.downstream)).toEqual(['streamable-http', 'stdio']);
    // Every arm of the lean comparison, the peers included, made successful calls and was measured.
    expect(report.lean.steps.map((arm) => arm.arm)).toEqual([
      'direct',
      'gatehouse',
      'civic-passthrough',
      'gatehouse-stdio',
      'mcp-proxy',
    ]);
    for (const arm of report.lean.steps) {
      expect(arm.calls, arm.arm).toBeGreaterThan(0);
      expect(arm.errors, arm.arm).toBe(0);
      expect(arm.ratioToDirect, arm.arm).toBeGreaterThan(0);
      if (arm.arm !== 'direct') {
        expect(arm.gatewayCpuMsPerCall, arm.arm).not.toBeNull();
        expect(arm.rssMiB, arm.arm).toBeGreaterThan(0);
      }
    }
    // Gatehouse's calls reach its run database, so its backends were found and read.
    expect(report.lean.steps.find((arm) => arm.arm === 'gatehouse')?.postgresCpuMsPerCall).not.toBeNull();
    expect(report.lean.idle.map((gateway) => gateway.arm)).toEqual([
      'gatehouse',
      'civic-passthrough',
      'mcp-proxy',
    ]);
    for (const gateway of report.lean.idle) {
      expect(gateway.sessions, gateway.arm).toBe(6);
      expect(gateway.idleRssMiB, gateway.arm).toBeGreaterThan(0);
    }
    expect(report.targets.map((verdict) => verdict.target)).toContain('idle CPU ≤ 1 ms/s');
    expect(report.auditCheck.auditRecords).toBe(report.auditCheck.successfulCalls);
    expect(report.toolsList).toMatchObject({ tools: 3, directTools: expect.any(Number) });
    expect(report.perUser.cold.count).toBe(1);
    expect(report.memory.sessions).toBe(10);
    expect(report.auditIngest.runs).toHaveLength(3);
    expect(report.crash.acknowledged).toBeGreaterThan(0);
    expect(report.crash.missing).toBe(0);
    expect(report.crash.maxUnacknowledgedPerClient).toBeLessThanOrEqual(1);
    expect(report.crash.chainVerified).toBe(true);
    expect(formatTable(report)).toMatch(
      /civic-passthrough[\s\S]*mcp-proxy[\s\S]*targets[\s\S]*A gatehouse[\s\S]*crash test/,
    );
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
