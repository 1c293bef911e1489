import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fixtureStdioCommand } from '../../server/test/fixtures/fixture-launch.js';

export interface ArmResult {
  calls: number;
  errors: number;
  seconds: number;
  callsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface Run {
  latencies: number[];
  errors: number;
  /** Successful calls per client, in client order: the crash test compares them with the audit trail. */
  okPerClient: number[];
}

export async function connectHttp(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: 'gatehouse-bench', version: '0.1.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: key ? { headers: { authorization: `Bearer ${key}` } } : {},
    }),
  );
  return client;
}

/** A client with its own fixture process over stdio: what "direct" means for a stdio server. */
export async function connectStdio(): Promise<Client> {
  const client = new Client({ name: 'gatehouse-bench', version: '0.1.0' });
  const { command, args } = fixtureStdioCommand();
  await client.connect(new StdioClientTransport({ command, args, stderr: 'ignore' }));
  return client;
}

export const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** Every client calls `tool` back to back until `seconds` pass or `stop` resolves; latencies in ms. */
export async function drive(
  clients: Client[],
  tool: string,
  seconds: number,
  stop?: Promise<void>,
): Promise<Run> {
  const latencies: number[] = [];
  const okPerClient = clients.map(() => 0);
  let errors = 0;
  let stopped = false;
  void stop?.then(() => {
    stopped = true;
  });
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (client, index) => {
      while (!stopped && performance.now() < deadline) {
        const started = performance.now();
        try {
          const result = await client.callTool({ name: tool, arguments: { message: `bench ${index}` } });
          if (result.isError) errors++;
          else {
            latencies.push(performance.now() - started);
            okPerClient[index] = (okPerClient[index] ?? 0) + 1;
          }
        } catch {
          errors++;
        }
      }
    }),
  );
  return { latencies, errors, okPerClient };
}

export function summarize(runs: Run[], seconds: number): ArmResult {
  const latencies = runs.flatMap((run) => run.latencies).sort((a, b) => a - b);
  const total = seconds * runs.length;
  return {
    calls: latencies.length,
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    seconds: total,
    callsPerSecond: Math.round(latencies.length / total),
    p50: round3(percentile(latencies, 50)),
    p95: round3(percentile(latencies, 95)),
    p99: round3(percentile(latencies, 99)),
  };
}

/** p50/p95/max of a series of measured durations, in ms. */
export function distribution(samples: number[]): { count: number; p50: number; p95: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: round3(percentile(sorted, 50)),
    p95: round3(percentile(sorted, 95)),
    max: round3(sorted.at(-1) ?? 0),
  };
}

/** Ends each client's session (DELETE over HTTP) so the next step starts below the per-client cap. */
export async function closeAll(clients: Client[]): Promise<void> {
  await Promise.all(
    clients.map(async (client) => {
      const transport = client.transport as { terminateSession?: () => Promise<void> } | undefined;
      await transport?.terminateSession?.().catch(() => undefined);
      await client.close().catch(() => undefined);
    }),
  );
}
