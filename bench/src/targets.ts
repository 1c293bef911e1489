import type { AuditIngestResult } from './audit-ingest.js';
import type { LeanArmName, LeanArmResult, LeanReport } from './lean-bench.js';

/**
 * The targets of issue 15, each judged met or missed from one run's figures. They are printed, never asserted
 * in a test: timing on this shared machine is not something a test may depend on.
 */

export interface TargetVerdict {
  target: string;
  result: string;
  /** null when the run did not measure it (e.g. a smoke run without N = 64). */
  met: boolean | null;
}

interface Inputs {
  lean: LeanReport;
  auditIngest: AuditIngestResult;
  crash: { acknowledged: number; missing: number };
}

const fixed = (value: number | null | undefined, digits = 2) =>
  value === null || value === undefined ? '-' : value.toFixed(digits);

export function judgeTargets({ lean, auditIngest, crash }: Inputs): TargetVerdict[] {
  const at = (arm: LeanArmName, n: number): LeanArmResult | undefined =>
    lean.steps.find((step) => step.arm === arm && step.concurrency === n);
  const verdicts: TargetVerdict[] = [];
  const check = (
    target: string,
    value: number | null | undefined,
    ok: (v: number) => boolean,
    shown: string,
  ) =>
    verdicts.push({
      target,
      result: value === null || value === undefined ? 'not measured' : shown,
      met: value === null || value === undefined ? null : ok(value),
    });

  const g64 = at('gatehouse', 64);
  check(
    'Gatehouse CPU ≤ 0.5 ms/call, N = 64, HTTP',
    g64?.gatewayCpuMsPerCall,
    (v) => v <= 0.5,
    `${fixed(g64?.gatewayCpuMsPerCall, 3)} ms`,
  );
  check(
    'its PostgreSQL ≤ 0.25 ms/call, N = 64, HTTP',
    g64?.postgresCpuMsPerCall,
    (v) => v <= 0.25,
    `${fixed(g64?.postgresCpuMsPerCall, 3)} ms`,
  );
  check(
    'calls/s ≥ 0.6 × direct, N = 64, HTTP',
    g64?.ratioToDirect,
    (v) => v >= 0.6,
    fixed(g64?.ratioToDirect),
  );
  check(
    'calls/s ≥ 1.0 × best peer, N = 64, HTTP (civic passthrough)',
    g64?.ratioToBestPeer,
    (v) => v >= 1,
    fixed(g64?.ratioToBestPeer),
  );
  const s64 = at('gatehouse-stdio', 64);
  check(
    'calls/s ≥ 1.0 × best peer, N = 64, stdio (mcp-proxy)',
    s64?.ratioToBestPeer,
    (v) => v >= 1,
    fixed(s64?.ratioToBestPeer),
  );
  const g1 = at('gatehouse', 1);
  const d1 = at('direct', 1);
  const added = (key: 'p50' | 'p99') => (g1 && d1 ? g1[key] - d1[key] : null);
  check('added p50 ≤ 1.5 ms, N = 1, HTTP', added('p50'), (v) => v <= 1.5, `+${fixed(added('p50'))} ms`);
  check('added p99 ≤ 5 ms, N = 1, HTTP', added('p99'), (v) => v <= 5, `+${fixed(added('p99'))} ms`);
  const idle = lean.idle.find((entry) => entry.arm === 'gatehouse');
  check(
    'idle CPU ≤ 1 ms/s',
    idle?.idleCpuMsPerSecond,
    (v) => v <= 1,
    `${fixed(idle?.idleCpuMsPerSecond)} ms/s`,
  );
  check('idle RSS ≤ 150 MiB', idle?.idleRssMiB, (v) => v <= 150, `${idle?.idleRssMiB} MiB`);
  check(
    'memory per idle session ≤ 50 KiB',
    idle?.perSessionKiB,
    (v) => v <= 50,
    `${idle?.perSessionKiB} KiB (${idle?.sessions} sessions)`,
  );
  check(
    'audit ingest alone ≥ 50,000 events/s',
    auditIngest.eventsPerSecond,
    (v) => v >= 50_000,
    `${auditIngest.eventsPerSecond} events/s (median of ${auditIngest.runs.length})`,
  );
  check(
    'crash test: 0 acknowledged calls without a record',
    crash.missing,
    (v) => v === 0,
    `${crash.missing} of ${crash.acknowledged}`,
  );
  return verdicts;
}

/** Right-aligned columns, two spaces apart (every table the bench prints). */
export const table = (rows: string[][]): string => {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) => row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  '))
    .join('\n');
};

/** CPU per call first, then throughput and latency; then idle figures per gateway. */
export function formatLean(lean: LeanReport): string {
  const rows: string[][] = [
    [
      'N',
      'arm',
      'downstream',
      'gw CPU ms/call',
      'PG CPU ms/call',
      'calls/s',
      '÷ direct',
      '÷ best peer',
      'p50 ms',
      'p99 ms',
      'errors',
      'RSS MiB',
    ],
  ];
  for (const r of lean.steps) {
    rows.push([
      String(r.concurrency),
      r.arm,
      r.downstream,
      fixed(r.gatewayCpuMsPerCall, 3),
      fixed(r.postgresCpuMsPerCall, 3),
      String(r.callsPerSecond),
      fixed(r.ratioToDirect),
      fixed(r.ratioToBestPeer),
      fixed(r.p50),
      fixed(r.p99),
      String(r.errors),
      r.rssMiB === null ? '-' : String(r.rssMiB),
    ]);
  }
  const idleRows: string[][] = [
    ['gateway', 'idle CPU ms/s', 'idle RSS MiB', 'idle sessions', 'RSS before → after MiB', 'KiB/session'],
    ...lean.idle.map((g) => [
      g.arm === 'gatehouse' ? 'gatehouse' : g.arm,
      fixed(g.idleCpuMsPerSecond),
      String(g.idleRssMiB),
      String(g.sessions),
      `${g.rssBeforeMiB} → ${g.rssAfterMiB}`,
      String(g.perSessionKiB),
    ]),
  ];
  const { seconds, rounds } = lean.options;
  return [
    `lean generator (raw JSON-RPC, keep-alive, one session per client), median of ${rounds} rounds × ${seconds} s:`,
    table(rows),
    '',
    table(idleRows),
  ].join('\n');
}

export function formatTargets(verdicts: TargetVerdict[]): string {
  const rows = [
    ['target', 'result', 'verdict'],
    ...verdicts.map((v) => [v.target, v.result, v.met === null ? 'not measured' : v.met ? 'met' : 'MISSED']),
  ];
  return `targets of issue 15:\n${table(rows)}`;
}
