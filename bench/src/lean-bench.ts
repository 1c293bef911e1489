import type http from 'node:http';
import { cpuSeconds, type PostgresCpu, rssMiB } from './cpu.js';
import {
  closeSessions,
  driveLean,
  type LeanSession,
  type LeanTarget,
  leanAgent,
  openSessions,
} from './lean-client.js';
import { percentile, type Run } from './load.js';

/**
 * Gatehouse beside the bare peers, all driven by the lean generator in the same run, on the same fixture.
 * For each N the arms take turns round after round (the first arm rotates), so slow drifts of this shared
 * machine land on every arm alike; each figure is the median of the rounds. CPU per call comes from /proc
 * (user + system of the gateway process, and of the run database's PostgreSQL backends): on a noisy 2-core
 * machine it holds better than calls/s, so it is reported first.
 */

export type LeanArmName = 'direct' | 'gatehouse' | 'civic-passthrough' | 'gatehouse-stdio' | 'mcp-proxy';

export interface LeanArm {
  name: LeanArmName;
  downstream: 'streamable-http' | 'stdio';
  kind: 'direct' | 'gatehouse' | 'peer';
  /** The gateway process measured; none for direct. */
  pid?: number;
  /** The target of the i-th simulated client (Gatehouse: one client key each). */
  target(index: number): LeanTarget;
  /** The i-th of the idle sessions (Gatehouse caps sessions per client key). */
  idleTarget?(index: number): LeanTarget;
}

export interface LeanOptions {
  concurrency: number[];
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  /** Quiet window over which idle CPU is read. */
  idleSeconds: number;
  /** Sessions opened per gateway to measure memory per idle session. */
  idleSessions: number;
}

export interface LeanArmResult {
  arm: LeanArmName;
  downstream: LeanArm['downstream'];
  concurrency: number;
  /** Medians over the rounds. */
  callsPerSecond: number;
  p50: number;
  p99: number;
  gatewayCpuMsPerCall: number | null;
  postgresCpuMsPerCall: number | null;
  calls: number;
  errors: number;
  rssMiB: number | null;
  /** calls/s ÷ direct (the Streamable HTTP fixture, for every arm). */
  ratioToDirect: number;
  /** calls/s ÷ the best peer arm on the same downstream. */
  ratioToBestPeer: number | null;
  rounds: { callsPerSecond: number; p50: number; p99: number; gatewayCpuMsPerCall: number | null }[];
}

export interface GatewayIdle {
  arm: LeanArmName;
  /** CPU over a quiet window, in ms per second. */
  idleCpuMsPerSecond: number;
  idleRssMiB: number;
  sessions: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  perSessionKiB: number;
}

export interface LeanReport {
  options: LeanOptions;
  steps: LeanArmResult[];
  idle: GatewayIdle[];
  /** Successful calls through Gatehouse (warm-ups included), for the audit check. */
  gatehouseCalls: number;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? (sorted[Math.floor((sorted.length - 1) / 2)] ?? 0) : 0;
};
const pause = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

interface Round {
  run: Run;
  gatewayCpu: number | null;
  postgresCpu: number | null;
}

async function measure(
  arm: LeanArm,
  sessions: LeanSession[],
  seconds: number,
  postgres: PostgresCpu | undefined,
): Promise<Round> {
  const gatewayBefore = arm.pid ? cpuSeconds(arm.pid) : 0;
  const postgresBefore = postgres?.snapshot();
  const run = await driveLean(sessions, seconds);
  return {
    run,
    gatewayCpu: arm.pid ? cpuSeconds(arm.pid) - gatewayBefore : null,
    postgresCpu: postgres && postgresBefore ? postgres.since(postgresBefore) : null,
  };
}

const perCall = (cpu: number | null, calls: number) =>
  cpu === null ? null : calls ? round3((cpu * 1000) / calls) : 0;

async function step(
  arms: LeanArm[],
  concurrency: number,
  options: LeanOptions,
  postgres: PostgresCpu | undefined,
  counter: { gatehouseCalls: number },
): Promise<LeanArmResult[]> {
  const agents = new Map<LeanArmName, http.Agent>();
  const sessions = new Map<LeanArmName, LeanSession[]>();
  const rounds = new Map<LeanArmName, Round[]>(arms.map((arm) => [arm.name, []]));
  try {
    for (const arm of arms) {
      const agent = leanAgent(concurrency);
      agents.set(arm.name, agent);
      sessions.set(arm.name, await openSessions(agent, concurrency, (i) => arm.target(i)));
    }
    const sessionsOf = (arm: LeanArm) => sessions.get(arm.name) ?? [];
    for (const arm of arms) {
      const warm = await driveLean(sessionsOf(arm), options.warmupSeconds);
      if (arm.kind === 'gatehouse') counter.gatehouseCalls += warm.latencies.length;
    }
    for (let round = 0; round < options.rounds; round++) {
      for (let turn = 0; turn < arms.length; turn++) {
        const arm = arms[(round + turn) % arms.length] as LeanArm;
        const measured = await measure(arm, sessionsOf(arm), options.seconds, postgres);
        if (arm.kind === 'gatehouse') counter.gatehouseCalls += measured.run.latencies.length;
        rounds.get(arm.name)?.push(measured);
      }
    }
  } finally {
    for (const list of sessions.values()) await closeSessions(list);
    for (const agent of agents.values()) agent.destroy();
  }
  const results = arms.map((arm) =>
    summarizeArm(arm, concurrency, options.seconds, rounds.get(arm.name) ?? []),
  );
  const direct = results.find((result) => result.arm === 'direct')?.callsPerSecond ?? 0;
  for (const result of results) {
    result.ratioToDirect = direct ? round3(result.callsPerSecond / direct) : 0;
    const peers = results.filter(
      (other) =>
        other.downstream === result.downstream && arms.find((arm) => arm.name === other.arm)?.kind === 'peer',
    );
    const bestPeer = Math.max(0, ...peers.map((peer) => peer.callsPerSecond));
    result.ratioToBestPeer = bestPeer ? round3(result.callsPerSecond / bestPeer) : null;
  }
  return results;
}

function summarizeArm(arm: LeanArm, concurrency: number, seconds: number, rounds: Round[]): LeanArmResult {
  const perRound = rounds.map(({ run, gatewayCpu }) => {
    const sorted = [...run.latencies].sort((a, b) => a - b);
    return {
      callsPerSecond: Math.round(sorted.length / seconds),
      p50: round3(percentile(sorted, 50)),
      p99: round3(percentile(sorted, 99)),
      gatewayCpuMsPerCall: perCall(gatewayCpu, sorted.length),
    };
  });
  const pgPerRound = rounds.map(({ run, postgresCpu }) => perCall(postgresCpu, run.latencies.length));
  const known = (values: (number | null)[]) => values.filter((value): value is number => value !== null);
  const gatewayCpu = known(perRound.map((r) => r.gatewayCpuMsPerCall));
  const postgresCpu = known(pgPerRound);
  return {
    arm: arm.name,
    downstream: arm.downstream,
    concurrency,
    callsPerSecond: median(perRound.map((r) => r.callsPerSecond)),
    p50: median(perRound.map((r) => r.p50)),
    p99: median(perRound.map((r) => r.p99)),
    gatewayCpuMsPerCall: gatewayCpu.length ? median(gatewayCpu) : null,
    postgresCpuMsPerCall: postgresCpu.length ? median(postgresCpu) : null,
    calls: rounds.reduce((sum, r) => sum + r.run.latencies.length, 0),
    errors: rounds.reduce((sum, r) => sum + r.run.errors, 0),
    rssMiB: arm.pid ? Math.round(rssMiB(arm.pid)) : null,
    ratioToDirect: 0,
    ratioToBestPeer: null,
    rounds: perRound,
  };
}

/** Idle CPU and RSS of every gateway over one quiet window, then RSS per idle session, one gateway at a time. */
async function idleAndSessions(arms: LeanArm[], options: LeanOptions): Promise<GatewayIdle[]> {
  // Gatehouse serves two arms from one process: measure each process once.
  const gateways = arms.filter(
    (arm, index) => arm.pid && arms.findIndex((other) => other.pid === arm.pid) === index,
  );
  await pause(Math.min(2, options.idleSeconds));
  const before = gateways.map((arm) => cpuSeconds(arm.pid ?? 0));
  await pause(options.idleSeconds);
  const idle = gateways.map((arm, index) => ({
    arm: arm.name,
    idleCpuMsPerSecond: round3(
      ((cpuSeconds(arm.pid ?? 0) - (before[index] ?? 0)) * 1000) / options.idleSeconds,
    ),
    idleRssMiB: Math.round(rssMiB(arm.pid ?? 0)),
  }));
  const results: GatewayIdle[] = [];
  for (const [index, arm] of gateways.entries()) {
    const pid = arm.pid ?? 0;
    const rssBeforeMiB = rssMiB(pid);
    const agent = leanAgent(32);
    const opened = await openSessions(agent, options.idleSessions, (i) => (arm.idleTarget ?? arm.target)(i));
    try {
      await pause(Math.min(2, options.idleSeconds));
      const rssAfterMiB = rssMiB(pid);
      results.push({
        ...(idle[index] as (typeof idle)[number]),
        sessions: opened.length,
        rssBeforeMiB: Math.round(rssBeforeMiB),
        rssAfterMiB: Math.round(rssAfterMiB),
        perSessionKiB: Math.round(((rssAfterMiB - rssBeforeMiB) * 1024) / Math.max(1, opened.length)),
      });
    } finally {
      await closeSessions(opened);
      agent.destroy();
    }
  }
  return results;
}

export async function runLeanComparison(
  arms: LeanArm[],
  options: LeanOptions,
  postgres: PostgresCpu | undefined,
  log: (line: string) => void,
): Promise<LeanReport> {
  const counter = { gatehouseCalls: 0 };
  const steps: LeanArmResult[] = [];
  for (const concurrency of options.concurrency) {
    const results = await step(arms, concurrency, options, postgres, counter);
    steps.push(...results);
    log(
      `lean N=${concurrency}: ${results.map((r) => `${r.arm} ${r.callsPerSecond}/s ${r.gatewayCpuMsPerCall ?? '-'} ms CPU/call`).join(', ')}`,
    );
  }
  log(`idle CPU over ${options.idleSeconds} s, then ${options.idleSessions} idle sessions per gateway…`);
  const idle = await idleAndSessions(arms, options);
  return { options, steps, idle, gatehouseCalls: counter.gatehouseCalls };
}
