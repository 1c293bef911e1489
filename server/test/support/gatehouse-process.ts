import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { ADMIN, portalClient } from './gatehouse.js';
import { waitFor } from './processes.js';

export const serverDir = path.resolve(import.meta.dirname, '../..');
const repoRoot = path.resolve(serverDir, '..');

/**
 * How Gatehouse is launched. `direct` is `node --import tsx src/cli.ts start`, as the container runs it.
 * `pnpm-start` is the README's quick start (`npx -y pnpm@10.34.9 start`) after its build step: that script
 * runs `pnpm build && pnpm --filter @gatehouse/server start`, and the test runs the second half through
 * npx, which is the same npm exec → sh → pnpm → sh → node chain. The build is left out because it empties
 * web/dist and sdk/dist, which suites running in parallel read. `pnpm-gatehouse` is
 * `npx -y pnpm@10.34.9 gatehouse start`, for a built checkout (docs/operations.md).
 */
export type Launch = 'direct' | 'pnpm-start' | 'pnpm-gatehouse';

const launchCommands: Record<Launch, { command: string; args: string[]; cwd: string }> = {
  direct: { command: process.execPath, args: ['--import', 'tsx', 'src/cli.ts', 'start'], cwd: serverDir },
  'pnpm-start': {
    command: 'npx',
    args: ['-y', 'pnpm@10.34.9', '--filter', '@gatehouse/server', 'start'],
    cwd: repoRoot,
  },
  'pnpm-gatehouse': { command: 'npx', args: ['-y', 'pnpm@10.34.9', 'gatehouse', 'start'], cwd: repoRoot },
};

export function gatehouseEnv(dataDir: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: '',
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_CLIENT_PORT: '0',
    GATEHOUSE_PORTAL_PORT: '0',
    GATEHOUSE_LOG_LEVEL: 'info',
    ...env,
  };
}

export interface GatehouseProcess {
  /** The launcher (or the server itself for `direct`), the leader of its own process group. */
  child: ChildProcess;
  portalUrl: string;
  clientUrl: string;
  /** The Gatehouse server's pid, as its data dir lock names it. */
  serverPid: number;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts Gatehouse on embedded PostgreSQL in `dataDir`, in its own process group as a shell job would be. */
export async function spawnGatehouse(
  dataDir: string,
  launch: Launch,
  env: Record<string, string> = {},
  startTimeoutMs = 60_000,
): Promise<GatehouseProcess> {
  const { command, args, cwd } = launchCommands[launch];
  const child = spawn(command, args, {
    cwd,
    env: gatehouseEnv(dataDir, env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const urls = await Promise.race([
    waitFor(
      () => {
        const portal = /Portal:\s+(http:\/\/\S+?)\/?\s/.exec(output)?.[1];
        const client = /Client port:\s+(http:\/\/\S+?)\/?\s/.exec(output)?.[1];
        return portal && client ? { portal: portal.replace('localhost', '127.0.0.1'), client } : undefined;
      },
      'Gatehouse to start',
      startTimeoutMs,
    ),
    exited.then((code) => {
      throw new Error(`exited with ${code}:\n${output}`);
    }),
  ]).catch((error: Error) => {
    // The launcher leads its own group; a postmaster already started is in its own session.
    const postmaster = postmasterPidOf(dataDir);
    for (const target of [-(child.pid ?? 0), ...(postmaster ? [postmaster] : [])]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    throw new Error(`${error.message}\n${output}`);
  });
  const owner = JSON.parse(readFileSync(path.join(dataDir, 'gatehouse.lock'), 'utf8')) as { pid: number };
  return {
    child,
    portalUrl: urls.portal,
    clientUrl: urls.client,
    serverPid: owner.pid,
    output: () => output,
    exited,
  };
}

/** Runs one `gatehouse` CLI command to completion. */
export async function runCli(
  dataDir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: serverDir,
    env: gatehouseEnv(dataDir, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
    stdout += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', (exit) => resolve(exit)));
  return { code, output, stdout };
}

export const postmasterPidOf = (dataDir: string) => {
  const file = path.join(dataDir, 'postgres', 'postmaster.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined;
};

/**
 * First-run setup through the portal, then the fixture MCP published to everyone and a client key of the
 * admin subscribed to it: what a tool call through `/mcp` needs.
 */
export async function prepareToolAccess(portalUrl: string): Promise<{ key: string }> {
  const admin = portalClient(portalUrl);
  const me = await admin.setup.createFirstAdmin.mutate(ADMIN);
  admin.state.csrfToken = me.csrfToken;
  const everyone = (await admin.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
  const mcp = await admin.catalog.create.mutate({
    slug: 'fx',
    name: 'fx',
    config: {
      connection: { transport: 'stdio', ...fixtureStdioCommand() },
      timeouts: { connectMs: 20_000, callMs: 20_000 },
    },
    groupIds: [everyone],
  });
  await admin.catalog.validate.mutate({ id: mcp.id });
  await admin.catalog.discover.mutate({ id: mcp.id });
  await admin.catalog.publish.mutate({ id: mcp.id });
  const created = await admin.clients.create.mutate({ name: 'lifecycle test', kind: 'agent' });
  await admin.subscriptions.create.mutate({ clientId: created.client.id, mcpId: mcp.id });
  return { key: created.key };
}

export async function connectMcp(clientUrl: string, key: string): Promise<Client> {
  const client = new Client({ name: 'lifecycle-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${clientUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

export const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((block) => block.text ?? '')
    .join('');
