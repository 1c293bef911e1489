import type { BenchmarkReport } from './benchmark.js';
import type { distribution } from './load.js';
import { formatLean, formatTargets, table } from './targets.js';

type Distribution = ReturnType<typeof distribution>;

/** The table the issue asks for (per downstream, N and arm), then the other measurements. */
export function formatTable(report: BenchmarkReport): string {
  const rows: string[][] = [
    [
      'downstream',
      'N',
      'arm',
      'calls/s',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'errors',
      'A/B calls/s',
      'A−B p50 ms',
      'A−B p99 ms',
      'CPU ms/call',
      'RSS MiB',
    ],
  ];
  for (const step of report.steps) {
    const { gatehouse: a, direct: b } = step;
    rows.push([
      step.downstream,
      String(step.concurrency),
      'A gatehouse',
      String(a.callsPerSecond),
      a.p50.toFixed(2),
      a.p95.toFixed(2),
      a.p99.toFixed(2),
      String(a.errors),
      b.callsPerSecond ? (a.callsPerSecond / b.callsPerSecond).toFixed(2) : '-',
      (a.p50 - b.p50).toFixed(2),
      (a.p99 - b.p99).toFixed(2),
      step.gatehouseCpuMsPerCall.toFixed(3),
      String(step.gatehouseRssMiB),
    ]);
    rows.push([
      '',
      '',
      'B direct',
      String(b.callsPerSecond),
      b.p50.toFixed(2),
      b.p95.toFixed(2),
      b.p99.toFixed(2),
      String(b.errors),
      '',
      '',
      '',
      '',
      '',
    ]);
  }
  const d = (x: Distribution) => `p50 ${x.p50.toFixed(2)} ms, p95 ${x.p95.toFixed(2)} ms (n=${x.count})`;
  const { sessionSetup, toolsList, perUser, memory, auditIngest, auditCheck, crash } = report;
  const { machine } = report;
  return [
    `${machine.cpus} CPUs, Node.js ${machine.node}, 1-minute load average ${machine.loadAverage.start} at the start, ${machine.loadAverage.end} at the end`,
    '',
    formatLean(report.lean),
    '',
    formatTargets(report.targets),
    '',
    'SDK-client generator (each client a full MCP SDK Client):',
    table(rows),
    '',
    `session setup (initialize + tools/list): gatehouse ${d(sessionSetup.gatehouse)}; direct ${d(sessionSetup.direct)}`,
    `tools/list, ${toolsList.tools} tools in ${toolsList.pages} pages through gatehouse: ${d(toolsList.gatehouse)}; ` +
      `direct, ${toolsList.directTools} tools of one MCP: ${d(toolsList.direct)}`,
    `per-user instance: cold first call ${d(perUser.cold)}; warm ${d(perUser.warm)}`,
    `memory: idle RSS ${memory.idleRssMiB} MiB; ${memory.sessions} idle sessions ${memory.rssBeforeMiB} → ` +
      `${memory.rssAfterMiB} MiB = ${memory.perSessionKiB} KiB per session`,
    `audit ingest (group commit alone): median ${auditIngest.eventsPerSecond} events/s ` +
      `(runs ${auditIngest.runs.join(', ')}; ${auditIngest.events} events each from ${auditIngest.concurrency} concurrent writers)`,
    `audit check: ${auditCheck.successfulCalls} successful calls, ${auditCheck.auditRecords} tool.call records`,
    `crash test (SIGKILL under load): ${crash.acknowledged} acknowledged, ${crash.audited} audited, ` +
      `${crash.missing} missing, ${crash.unacknowledged} audited but unacknowledged ` +
      `(at most ${crash.maxUnacknowledgedPerClient} per client), chain verified: ${crash.chainVerified}`,
  ].join('\n');
}
