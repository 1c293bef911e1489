import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pg from 'pg';
import { verifyAuditChain } from '../../server/src/audit/verify.js';
import { ormConfig } from '../../server/src/platform/db.js';
import { fixtureStdioCommand, startFixtureHttp } from '../../server/test/fixtures/fixture-launch.js';
import { type AuditIngestResult, INGEST_USER_ID, measureAuditIngest } from './audit-ingest.js';
import { PostgresCpu } from './cpu.js';
import { leanArms } from './lean-arms.js';
import { type LeanOptions, type LeanReport, runLeanComparison } from './lean-bench.js';
import {
  type ArmResult,
  closeAll,
  connectHttp,
  connectStdio,
  distribution,
  drive,
  type Run,
  summarize,
} from './load.js';
import { type PeerProcess, startCivicPassthrough, startMcpProxy } from './peers.js';
import {
  benchDatabase,
  type GatehouseProcess,
  processUsage,
  startGatehouseProcess,
  temporaryDataDir,
} from './processes.js';
import { type Provisioner, provision } from './provision.js';
import { judgeTargets, type TargetVerdict } from './targets.js';

export interface BenchmarkOptions {
  /** Concurrent clients per throughput step against the Streamable HTTP downstream. */
  concurrency: number[];
  /** The same against the stdio downstream; direct clients each spawn their own fixture process. */
  stdioConcurrency: number[];
  /** Seconds each arm runs per round. */
  seconds: number;
  /** Rounds per step; arms alternate A, B, A, B… within the same run. */
  rounds: number;
  /** Sequential session setups (initialize + tools/list) per arm. */
  sessionSetups: number;
  /** MCPs × tools for the catalog-scale `tools/list`, and how often to list. */
  catalog: { mcps: number; toolsPerMcp: number; lists: number };
  /** Users whose per-user instance starts cold, and warm calls each. */
  perUser: { users: number; warmCalls: number };
  /** Idle sessions held open to measure memory per session. */
  idleSessions: number;
  /** Events appended through the group-commit batcher on its own. */
  auditEvents: number;
  /** Seconds of load before Gatehouse is killed with SIGKILL, and with how many clients. */
  crash: { seconds: number; concurrency: number };
  /** The lean generator's comparison of Gatehouse with direct and the peer gateways. */
  lean: LeanOptions;
  /** The PostgreSQL server to create the run's database on; embedded PostgreSQL when absent. */
  databaseUrl?: string;
  log?: (line: string) => void;
}

export const defaultOptions: Omit<BenchmarkOptions, 'databaseUrl' | 'log'> = {
  concurrency: [1, 16, 64, 256],
  stdioConcurrency: [1, 16],
  seconds: 10,
  rounds: 2,
  sessionSetups: 100,
  catalog: { mcps: 20, toolsPerMcp: 50, lists: 100 },
  perUser: { users: 5, warmCalls: 100 },
  idleSessions: 1000,
  auditEvents: 50_000,
  crash: { seconds: 3, concurrency: 16 },
  lean: {
    concurrency: [1, 16, 64],
    seconds: 5,
    rounds: 3,
    warmupSeconds: 0.5,
    idleSeconds: 10,
    idleSessions: 1000,
  },
};

export interface StepResult {
  downstream: 'streamable-http' | 'stdio';
  concurrency: number;
  gatehouse: ArmResult;
  direct: ArmResult;
  /** Gatehouse process CPU (user + system) per successful call, in milliseconds. */
  gatehouseCpuMsPerCall: number;
  gatehouseRssMiB: number;
}

type Distribution = ReturnType<typeof distribution>;

export { formatTable } from './format.js';

export interface BenchmarkReport {
  startedAt: string;
  /** The 1-minute load average when the run started and ended: other work on a shared machine shows here. */
  machine: { cpus: number; node: string; loadAverage: { start: number; end: number } };
  options: Omit<BenchmarkOptions, 'log' | 'databaseUrl'>;
  steps: StepResult[];
  sessionSetup: { gatehouse: Distribution; direct: Distribution };
  toolsList: {
    tools: number;
    pages: number;
    gatehouse: Distribution;
    directTools: number;
    direct: Distribution;
  };
  perUser: { cold: Distribution; warm: Distribution };
  memory: {
    idleRssMiB: number;
    sessions: number;
    rssBeforeMiB: number;
    rssAfterMiB: number;
    perSessionKiB: number;
  };
  auditIngest: AuditIngestResult;
  /** Gatehouse, direct and the peers under the lean generator; CPU per call first. */
  lean: LeanReport;
  /** Each target of issue 15, met or missed in this run. */
  targets: TargetVerdict[];
  /** Successful tool calls through Gatehouse before the crash test, and the `tool.call` records for them. */
  auditCheck: { successfulCalls: number; auditRecords: number };
  crash: {
    acknowledged: number;
    audited: number;
    /** Acknowledged calls without an audit record: must be 0. */
    missing: number;
    /** Audited calls whose answer the load generator never saw (in flight at the kill). */
    unacknowledged: number;
    /** Each client has at most one call in flight, so more than 1 here would hide a missing record. */
    maxUnacknowledgedPerClient: number;
    /** `verifyAuditChain` after the restart: gapless ids, links and hashes, head. */
    chainVerified: boolean;
  };
}

const ECHO_ARGS = { message: 'bench' };

export async function runBenchmark(options: BenchmarkOptions): Promise<BenchmarkReport> {
  const log = options.log ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const loadAtStart = Math.round((loadavg()[0] ?? 0) * 10) / 10;
  const database = await benchDatabase(options.databaseUrl);
  const dataDir = temporaryDataDir();
  const downstream = await startFixtureHttp('http');
  const catalogFixture = await startFixtureHttp('http', {
    FIXTURE_TOOL_COUNT: String(options.catalog.toolsPerMcp),
  });
  let gatehouse: GatehouseProcess | undefined;
  const peers: PeerProcess[] = [];
  const sql = new pg.Pool({ connectionString: database.url, max: 2 });
  try {
    gatehouse = await startGatehouseProcess(database.url, dataDir);
    peers.push(await startCivicPassthrough(downstream.url), await startMcpProxy());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleRssMiB = Math.round(processUsage(gatehouse.pid).rssMiB);
    log(`audit ingest, ${options.auditEvents} events, first, while everything is quiet…`);
    const auditIngest = await measureAuditIngest(database.url, options.auditEvents);
    const provisioner = await provision(gatehouse.portal);
    const fixture = fixtureStdioCommand();
    const httpMcp = await provisioner.publish('bench', {
      connection: { transport: 'streamable-http', url: downstream.url },
      limits: { maxConcurrentCalls: 256, maxInstances: 1 },
    });
    const stdioMcp = await provisioner.publish('benchstdio', {
      connection: { transport: 'stdio', command: fixture.command, args: fixture.args },
      limits: { maxConcurrentCalls: 256, maxInstances: 1 },
    });
    const sessionsPerKey = 30;
    const keyCount = Math.max(
      ...options.concurrency,
      ...options.stdioConcurrency,
      ...options.lean.concurrency,
      Math.ceil(options.idleSessions / sessionsPerKey),
    );
    log(`provisioning ${keyCount} clients…`);
    const keys = (await provisioner.clientKeys(keyCount, [httpMcp, stdioMcp])).map((client) => client.key);
    const counter = { gatehouseCalls: 0 };
    // RSS is read after the heap settles: 2 s, less in a smoke run with a short idle window.
    const settleSeconds = Math.min(2, options.lean.idleSeconds);

    log(`${options.idleSessions} idle sessions (on a fresh process, before any load)…`);
    const memory = {
      idleRssMiB,
      ...(await idleSessionMemory(gatehouse, keys, options.idleSessions, sessionsPerKey, settleSeconds)),
    };

    log('lean generator: direct, Gatehouse and the peers, alternating…');
    const lean = await runLeanComparison(
      leanArms(gatehouse, keys, sessionsPerKey, downstream.url, peers),
      options.lean,
      await PostgresCpu.of(sql),
      log,
    );
    counter.gatehouseCalls += lean.gatehouseCalls;

    const steps: StepResult[] = [];
    for (const concurrency of options.concurrency) {
      steps.push(
        await throughputStep(gatehouse, keys, concurrency, options, counter, {
          downstream: 'streamable-http',
          gatehouseTool: 'bench__echo',
          connectDirect: () => connectHttp(downstream.url),
        }),
      );
      log(describeStep(steps.at(-1)));
    }
    for (const concurrency of options.stdioConcurrency) {
      steps.push(
        await throughputStep(gatehouse, keys, concurrency, options, counter, {
          downstream: 'stdio',
          gatehouseTool: 'benchstdio__echo',
          connectDirect: connectStdio,
        }),
      );
      log(describeStep(steps.at(-1)));
    }

    log('session setup…');
    const sessionSetup = {
      gatehouse: await sessionSetups(
        () => connectHttp(`${gatehouse?.client}/mcp`, keys[0]),
        options.sessionSetups,
      ),
      direct: await sessionSetups(() => connectHttp(downstream.url), options.sessionSetups),
    };

    log(`tools/list over ${options.catalog.mcps} MCPs × ${options.catalog.toolsPerMcp} tools…`);
    const toolsList = await catalogListing(provisioner, gatehouse, catalogFixture.url, options.catalog);

    log('per-user instances, cold and warm…');
    const perUser = await perUserStarts(provisioner, gatehouse, options.perUser, counter);

    const [audited] = (
      await sql.query<{ count: string }>(
        "select count(*) from audit_event where action = 'tool.call' and details->>'status' = 'ok' and actor_user_id <> $1",
        [INGEST_USER_ID],
      )
    ).rows;
    const auditCheck = { successfulCalls: counter.gatehouseCalls, auditRecords: Number(audited?.count) };

    log('crash test: SIGKILL under load, restart, compare…');
    const crashKeys = await provisioner.clientKeys(options.crash.concurrency, [httpMcp]);
    const crashed = await crashTest(gatehouse, crashKeys, options.crash.seconds);
    log('crash test: restarting…');
    gatehouse = await startGatehouseProcess(database.url, dataDir);
    log('crash test: comparing with the trail…');
    const crash = await compareWithTrail(sql, database.url, crashKeys, crashed);
    log('crash test: done');

    return {
      startedAt,
      machine: {
        cpus: cpus().length,
        node: process.version,
        loadAverage: { start: loadAtStart, end: Math.round((loadavg()[0] ?? 0) * 10) / 10 },
      },
      options: { ...defaultOptions, ...withoutRuntime(options) },
      steps,
      sessionSetup,
      toolsList,
      perUser,
      memory,
      auditIngest,
      lean,
      targets: judgeTargets({ lean, auditIngest, crash }),
      auditCheck,
      crash,
    };
  } finally {
    log('stopping…');
    await gatehouse?.stop();
    for (const peer of peers) await peer.stop();
    await sql.end();
    await downstream.close();
    await catalogFixture.close();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function withoutRuntime(options: BenchmarkOptions): Omit<BenchmarkOptions, 'log' | 'databaseUrl'> {
  const { log: _log, databaseUrl: _url, ...rest } = options;
  return rest;
}

function describeStep(step: StepResult | undefined): string {
  if (!step) return '';
  return `${step.downstream} N=${step.concurrency}: gatehouse ${step.gatehouse.callsPerSecond}/s, direct ${step.direct.callsPerSecond}/s`;
}

/** Arms A (through Gatehouse) and B (direct) alternate, with the same client code and concurrency. */
async function throughputStep(
  gatehouse: GatehouseProcess,
  keys: string[],
  concurrency: number,
  options: BenchmarkOptions,
  counter: { gatehouseCalls: number },
  arm: { downstream: StepResult['downstream']; gatehouseTool: string; connectDirect: () => Promise<Client> },
): Promise<StepResult> {
  const throughGatehouse = await Promise.all(
    keys.slice(0, concurrency).map((key) => connectHttp(`${gatehouse.client}/mcp`, key)),
  );
  const direct = await Promise.all(Array.from({ length: concurrency }, arm.connectDirect));
  try {
    // Warm both paths (instance start, JIT) before measuring.
    counter.gatehouseCalls += (await drive(throughGatehouse, arm.gatehouseTool, 0.5)).latencies.length;
    await drive(direct, 'echo', 0.5);
    const gatehouseRuns: Run[] = [];
    const directRuns: Run[] = [];
    let cpuSeconds = 0;
    for (let round = 0; round < options.rounds; round++) {
      const before = processUsage(gatehouse.pid);
      gatehouseRuns.push(await drive(throughGatehouse, arm.gatehouseTool, options.seconds));
      cpuSeconds += processUsage(gatehouse.pid).cpuSeconds - before.cpuSeconds;
      directRuns.push(await drive(direct, 'echo', options.seconds));
    }
    const gatehouseArm = summarize(gatehouseRuns, options.seconds);
    counter.gatehouseCalls += gatehouseArm.calls;
    return {
      downstream: arm.downstream,
      concurrency,
      gatehouse: gatehouseArm,
      direct: summarize(directRuns, options.seconds),
      gatehouseCpuMsPerCall: gatehouseArm.calls
        ? Math.round((cpuSeconds * 1e6) / gatehouseArm.calls) / 1000
        : 0,
      gatehouseRssMiB: Math.round(processUsage(gatehouse.pid).rssMiB),
    };
  } finally {
    await closeAll([...throughGatehouse, ...direct]);
  }
}

/** A new session each time: initialize, initialized, tools/list, then DELETE. */
async function sessionSetups(connect: () => Promise<Client>, count: number): Promise<Distribution> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const client = await connect();
    await client.listTools();
    samples.push(performance.now() - started);
    await closeAll([client]);
  }
  return distribution(samples);
}

async function listAll(client: Client): Promise<{ tools: number; pages: number }> {
  let cursor: string | undefined;
  let tools = 0;
  let pages = 0;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools += page.tools.length;
    pages++;
    cursor = page.nextCursor;
  } while (cursor);
  return { tools, pages };
}

/** One client subscribed to many MCPs with many tools: the full (paginated) `tools/list`. */
async function catalogListing(
  provisioner: Provisioner,
  gatehouse: GatehouseProcess,
  fixtureUrl: string,
  catalog: BenchmarkOptions['catalog'],
): Promise<BenchmarkReport['toolsList']> {
  const mcpIds: string[] = [];
  for (let i = 1; i <= catalog.mcps; i++) {
    mcpIds.push(
      await provisioner.publish(`catalog${String(i).padStart(2, '0')}`, {
        connection: { transport: 'streamable-http', url: fixtureUrl },
      }),
    );
  }
  const generated = Array.from(
    { length: catalog.toolsPerMcp },
    (_, i) => `generated-${String(i + 1).padStart(3, '0')}`,
  );
  const [entry] = await provisioner.clientKeys(1, mcpIds, generated);
  const through = await connectHttp(`${gatehouse.client}/mcp`, entry?.key);
  const direct = await connectHttp(fixtureUrl);
  try {
    const timed = async (client: Client) => {
      const samples: number[] = [];
      let shape = { tools: 0, pages: 0 };
      for (let i = 0; i < catalog.lists; i++) {
        const started = performance.now();
        shape = await listAll(client);
        samples.push(performance.now() - started);
      }
      return { shape, samples };
    };
    const a = await timed(through);
    const b = await timed(direct);
    return {
      tools: a.shape.tools,
      pages: a.shape.pages,
      gatehouse: distribution(a.samples),
      directTools: b.shape.tools,
      direct: distribution(b.samples),
    };
  } finally {
    await closeAll([through, direct]);
  }
}

/** Each user's first call starts their own instance (cold); the calls after it reuse it (warm). */
async function perUserStarts(
  provisioner: Provisioner,
  gatehouse: GatehouseProcess,
  perUser: BenchmarkOptions['perUser'],
  counter: { gatehouseCalls: number },
): Promise<BenchmarkReport['perUser']> {
  const fixture = fixtureStdioCommand();
  const mcpId = await provisioner.publish('peruser', {
    connection: { transport: 'stdio', command: fixture.command, args: fixture.args },
    isolation: 'per-user',
  });
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < perUser.users; i++) {
    const key = await provisioner.userWithKey(`bench-user-${i}`, mcpId);
    const client = await connectHttp(`${gatehouse.client}/mcp`, key);
    try {
      for (let call = 0; call <= perUser.warmCalls; call++) {
        const started = performance.now();
        const result = await client.callTool({ name: 'peruser__echo', arguments: ECHO_ARGS });
        if (result.isError) throw new Error(`per-user call failed: ${JSON.stringify(result.content)}`);
        (call === 0 ? cold : warm).push(performance.now() - started);
        counter.gatehouseCalls++;
      }
    } finally {
      await closeAll([client]);
    }
  }
  return { cold: distribution(cold), warm: distribution(warm) };
}

/** RSS before and after opening `count` sessions that then sit idle. */
async function idleSessionMemory(
  gatehouse: GatehouseProcess,
  keys: string[],
  count: number,
  sessionsPerKey: number,
  settleSeconds: number,
): Promise<Omit<BenchmarkReport['memory'], 'idleRssMiB'>> {
  const settle = () => new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
  await settle();
  const rssBeforeMiB = processUsage(gatehouse.pid).rssMiB;
  const clients: Client[] = [];
  try {
    for (let opened = 0; opened < count; opened += 50) {
      const batch = Array.from({ length: Math.min(50, count - opened) }, (_, i) =>
        connectHttp(`${gatehouse.client}/mcp`, keys[Math.floor((opened + i) / sessionsPerKey)]),
      );
      clients.push(...(await Promise.all(batch)));
    }
    await settle();
    const rssAfterMiB = processUsage(gatehouse.pid).rssMiB;
    return {
      sessions: clients.length,
      rssBeforeMiB: Math.round(rssBeforeMiB),
      rssAfterMiB: Math.round(rssAfterMiB),
      perSessionKiB: Math.round(((rssAfterMiB - rssBeforeMiB) * 1024) / clients.length),
    };
  } finally {
    await closeAll(clients);
  }
}

interface Crashed {
  okPerClient: number[];
}

/** Load through Gatehouse, then SIGKILL it mid-flight; the clients' view of what succeeded. */
async function crashTest(
  gatehouse: GatehouseProcess,
  keys: { key: string }[],
  seconds: number,
): Promise<Crashed> {
  const clients = await Promise.all(keys.map(({ key }) => connectHttp(`${gatehouse.client}/mcp`, key)));
  // Calls in flight at the kill would wait out the SDK's request timeout: closing the clients fails them now.
  // Only close them: a DELETE to the dead process would itself wait out a timeout.
  const killed = new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000))
    .then(() => gatehouse.kill())
    .then(() => Promise.all(clients.map((client) => client.close().catch(() => undefined))))
    .then(() => undefined);
  const run = await drive(clients, 'bench__echo', seconds + 60, killed);
  await killed;
  return { okPerClient: run.okPerClient };
}

async function compareWithTrail(
  sql: pg.Pool,
  databaseUrl: string,
  keys: { clientId: string }[],
  crashed: Crashed,
): Promise<BenchmarkReport['crash']> {
  const { rows } = await sql.query<{ client: string; count: string }>(
    `select actor_client_id as client, count(*) from audit_event
     where action = 'tool.call' and details->>'status' = 'ok' and actor_client_id = any($1)
     group by actor_client_id`,
    [keys.map((entry) => entry.clientId)],
  );
  const auditedBy = new Map(rows.map((row) => [row.client, Number(row.count)]));
  let missing = 0;
  let unacknowledged = 0;
  let maxUnacknowledgedPerClient = 0;
  keys.forEach((entry, index) => {
    const acknowledged = crashed.okPerClient[index] ?? 0;
    const audited = auditedBy.get(entry.clientId) ?? 0;
    missing += Math.max(0, acknowledged - audited);
    unacknowledged += Math.max(0, audited - acknowledged);
    maxUnacknowledgedPerClient = Math.max(maxUnacknowledgedPerClient, audited - acknowledged);
  });
  const orm = await MikroORM.init(ormConfig(databaseUrl));
  const chain = await verifyAuditChain(orm.em.fork() as EntityManager).finally(() => orm.close());
  return {
    acknowledged: crashed.okPerClient.reduce((sum, n) => sum + n, 0),
    audited: [...auditedBy.values()].reduce((sum, n) => sum + n, 0),
    missing,
    unacknowledged,
    maxUnacknowledgedPerClient,
    chainVerified: chain.ok,
  };
}
