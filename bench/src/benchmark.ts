import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGatehouseClient } from '@gatehouse/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startFixtureHttp } from '../../server/test/fixtures/fixture-launch.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
const PASSWORD = 'Load-generator-passphrase-7';

export interface BenchmarkOptions {
  /** Concurrent clients per step. */
  concurrency: number[];
  /** Seconds each arm runs per round. */
  seconds: number;
  /** Rounds per step; arms alternate A, B, A, B… within the same run. */
  rounds: number;
  /** `DATABASE_URL` for Gatehouse; embedded PostgreSQL in a temporary data dir when absent. */
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface ArmResult {
  calls: number;
  errors: number;
  seconds: number;
  callsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface StepResult {
  concurrency: number;
  gatehouse: ArmResult;
  direct: ArmResult;
  /** Gatehouse process CPU (user + system) per successful call, in milliseconds. */
  gatehouseCpuMsPerCall: number;
  gatehouseRssMiB: number;
}

export interface BenchmarkReport {
  startedAt: string;
  machine: { cpus: number; node: string };
  options: Omit<BenchmarkOptions, 'log' | 'databaseUrl'>;
  steps: StepResult[];
  /** Successful calls through Gatehouse over the whole run, warm-up included: each has a `tool.call` record. */
  gatehouseCalls: number;
}

/** Gatehouse as its own process, so its CPU and memory are measured apart from the load generator. */
async function startGatehouseProcess(databaseUrl: string | undefined) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'));
  // GATEHOUSE_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the Gatehouse process there, on exit.
  const profile = process.env.GATEHOUSE_BENCH_CPU_PROF;
  const profileArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : [];
  const child = spawn(
    process.execPath,
    [...profileArgs, '--import', tsxLoader, path.join(repoRoot, 'server/src/cli.ts'), 'start'],
    {
      cwd: path.join(repoRoot, 'server'),
      env: {
        ...process.env,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_CLIENT_PORT: '0',
        GATEHOUSE_PORTAL_PORT: '0',
        GATEHOUSE_LOG_LEVEL: 'warn',
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATABASE_URL: '' }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const urls = await new Promise<{ portal: string; client: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Gatehouse did not start:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const portal = /Portal:\s+(\S+?)\/?\s*$/m.exec(output)?.[1];
      const client = /Client port:\s+(\S+)/m.exec(output)?.[1];
      if (portal && client) {
        clearTimeout(timer);
        resolve({ portal: portal.replace('localhost', '127.0.0.1'), client });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`Gatehouse exited with ${code}:\n${output}`)));
  });
  return {
    ...urls,
    pid: child.pid ?? 0,
    async stop() {
      await stopProcess(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
function processUsage(pid: number): { cpuSeconds: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMiB: rssKiB / 1024 };
}

/** First admin, an API token, the fixture published, and one client key per simulated client. */
async function provision(portalUrl: string, downstreamUrl: string, clients: number) {
  const post = async (procedure: string, input: unknown, cookie?: string, csrf = 'setup') => {
    const response = await fetch(`${portalUrl}/trpc/${procedure}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: portalUrl,
        'x-gatehouse-csrf': csrf,
        ...(cookie && { cookie }),
      },
      body: JSON.stringify(input),
    });
    if (!response.ok) throw new Error(`${procedure} failed: ${response.status} ${await response.text()}`);
    return {
      body: ((await response.json()) as { result: { data: Record<string, unknown> } }).result.data,
      cookie: response.headers.getSetCookie()[0]?.split(';')[0],
    };
  };
  const setup = await post('setup.createFirstAdmin', {
    username: 'bench-admin',
    displayName: 'Bench admin',
    email: 'bench@example.test',
    password: PASSWORD,
  });
  const token = await post('apiTokens.create', { name: 'bench' }, setup.cookie, String(setup.body.csrfToken));
  const gatehouse = createGatehouseClient({ url: portalUrl, token: String(token.body.token) });
  const everyone = (await gatehouse.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
  const mcp = await gatehouse.catalog.create.mutate({
    slug: 'bench',
    name: 'Benchmark fixture',
    config: {
      connection: { transport: 'streamable-http', url: downstreamUrl },
      limits: { maxConcurrentCalls: 256, maxInstances: 1 },
    },
    groupIds: [everyone],
  });
  await gatehouse.catalog.validate.mutate({ id: mcp.id });
  await gatehouse.catalog.discover.mutate({ id: mcp.id });
  await gatehouse.catalog.publish.mutate({ id: mcp.id });
  const keys: string[] = [];
  for (let i = 0; i < clients; i++) {
    const created = await gatehouse.clients.create.mutate({ name: `bench client ${i}`, kind: 'agent' });
    await gatehouse.subscriptions.create.mutate({ clientId: created.client.id, mcpId: mcp.id });
    keys.push(created.key);
  }
  return keys;
}

async function connectClient(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: 'gatehouse-bench', version: '0.1.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: key ? { headers: { authorization: `Bearer ${key}` } } : {},
    }),
  );
  return client;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);

/** Every client calls `tool` back to back for `seconds`; latencies in milliseconds. */
async function drive(
  clients: Client[],
  tool: string,
  seconds: number,
): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (client, index) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        try {
          const result = await client.callTool({ name: tool, arguments: { message: `bench ${index}` } });
          if (result.isError) errors++;
          else latencies.push(performance.now() - started);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { latencies, errors };
}

function summarize(runs: { latencies: number[]; errors: number }[], seconds: number): ArmResult {
  const latencies = runs.flatMap((run) => run.latencies).sort((a, b) => a - b);
  const total = seconds * runs.length;
  const round = (value: number) => Math.round(value * 1000) / 1000;
  return {
    calls: latencies.length,
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    seconds: total,
    callsPerSecond: Math.round(latencies.length / total),
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
    p99: round(percentile(latencies, 99)),
  };
}

/** Runs both arms against the same downstream, alternating, for each concurrency level. */
export async function runBenchmark(options: BenchmarkOptions): Promise<BenchmarkReport> {
  const log = options.log ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const downstream = await startFixtureHttp('http');
  const gatehouse = await startGatehouseProcess(options.databaseUrl);
  const opened: Client[] = [];
  try {
    const maxClients = Math.max(...options.concurrency);
    log(`provisioning ${maxClients} clients…`);
    const keys = await provision(gatehouse.portal, downstream.url, maxClients);
    const steps: StepResult[] = [];
    let gatehouseCalls = 0;
    for (const concurrency of options.concurrency) {
      const throughGatehouse = await Promise.all(
        keys.slice(0, concurrency).map((key) => connectClient(`${gatehouse.client}/mcp`, key)),
      );
      const direct = await Promise.all(keys.slice(0, concurrency).map(() => connectClient(downstream.url)));
      opened.push(...throughGatehouse, ...direct);
      // Warm both paths (instance start, JIT) before measuring.
      gatehouseCalls += (await drive(throughGatehouse, 'bench__echo', 0.5)).latencies.length;
      await drive(direct, 'echo', 0.5);
      const gatehouseRuns = [];
      const directRuns = [];
      let cpuSeconds = 0;
      for (let round = 0; round < options.rounds; round++) {
        const before = processUsage(gatehouse.pid);
        gatehouseRuns.push(await drive(throughGatehouse, 'bench__echo', options.seconds));
        cpuSeconds += processUsage(gatehouse.pid).cpuSeconds - before.cpuSeconds;
        directRuns.push(await drive(direct, 'echo', options.seconds));
      }
      const gatehouseArm = summarize(gatehouseRuns, options.seconds);
      const directArm = summarize(directRuns, options.seconds);
      gatehouseCalls += gatehouseArm.calls;
      steps.push({
        concurrency,
        gatehouse: gatehouseArm,
        direct: directArm,
        gatehouseCpuMsPerCall: gatehouseArm.calls
          ? Math.round((cpuSeconds * 1e6) / gatehouseArm.calls) / 1000
          : 0,
        gatehouseRssMiB: Math.round(processUsage(gatehouse.pid).rssMiB),
      });
      log(
        `N=${concurrency}: gatehouse ${gatehouseArm.callsPerSecond}/s, direct ${directArm.callsPerSecond}/s`,
      );
      await Promise.all(
        [...throughGatehouse, ...direct].map((client) => client.close().catch(() => undefined)),
      );
    }
    return {
      startedAt,
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
      options: { concurrency: options.concurrency, seconds: options.seconds, rounds: options.rounds },
      steps,
      gatehouseCalls,
    };
  } finally {
    await Promise.all(opened.map((client) => client.close().catch(() => undefined)));
    await gatehouse.stop();
    await downstream.close();
  }
}

/** The table the issue asks for: per N and arm, calls/s and latency percentiles, plus the ratios A/B. */
export function formatTable(report: BenchmarkReport): string {
  const header = [
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
  ];
  const rows: string[][] = [header];
  for (const step of report.steps) {
    const { gatehouse: a, direct: b } = step;
    rows.push([
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
  const widths = header.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) => row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  '))
    .join('\n');
}
