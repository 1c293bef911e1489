import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  isInitializeRequest,
  LATEST_PROTOCOL_VERSION,
  ListRootsRequestSchema,
  ListRootsResultSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

// The built bin, on purpose: this suite tests what gets published (`pnpm --filter @gatehouse/sdk build` first).
const CLI = fileURLToPath(new URL('../dist/bridge/cli.js', import.meta.url));
const KEY = `gh_ck_test${'K'.repeat(28)}`;
const WRONG_KEY = `gh_ck_wrong${'W'.repeat(27)}`;

// --- a real MCP Streamable HTTP endpoint: stateful sessions, bearer key required --------------------------

interface TestEndpoint {
  url: string;
  /** Sessions created so far (one per initialize). */
  sessionsCreated(): number;
  /** Requests answered 404 because their session was unknown. */
  notFound(): number;
  /** DELETE requests (sessions ended by the client). */
  deletes(): number;
  /** The MCP-Protocol-Version headers seen on requests after initialize. */
  protocolVersions: Set<string | undefined>;
  /** Calls of the `hang` tool currently running. */
  hanging(): number;
  /** Forgets every session, leaving its streams open: the next request with an old session id gets 404. */
  forgetSessions(): void;
  /** Forgets and closes every session, ending its streams. */
  expireSessions(): Promise<void>;
  /** Destroys the sockets of the next `count` authenticated requests before answering them. */
  failNextRequests(count: number): void;
  /** Closes every open connection (in-flight response streams break). */
  dropConnections(): void;
  close(): Promise<void>;
}

function createMcpServer(hangs: { count: number; release: Promise<void> }): McpServer {
  const server = new McpServer({ name: 'bridge-test-endpoint', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Echoes a message', inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: 'text', text: message }] }),
  );
  server.registerTool(
    'progress',
    { description: 'Reports progress', inputSchema: { steps: z.number().int().min(1) } },
    async ({ steps }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let step = 1; step <= steps; step++) {
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: step, total: steps, message: `step ${step}` },
          });
        }
        // Paced like real work. The SDK's Client handles notifications a microtask late but responses at
        // once, so progress read in the same stdin chunk as the response is dropped as "unknown token".
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return { content: [{ type: 'text', text: `done after ${steps} steps` }] };
    },
  );
  server.registerTool('roots', { description: "Lists the client's roots" }, async (extra) => {
    const { roots } = await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);
    return { content: [{ type: 'text', text: roots.map((root) => root.uri).join(',') }] };
  });
  server.registerTool('hang', { description: 'Answers when the test ends' }, async () => {
    hangs.count++;
    await hangs.release;
    hangs.count--;
    return { content: [{ type: 'text', text: 'released' }] };
  });
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : JSON.parse(text);
}

async function startTestEndpoint(): Promise<TestEndpoint> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const everyTransport = new Set<StreamableHTTPServerTransport>();
  let releaseHangs: () => void = () => {};
  const hangs = {
    count: 0,
    release: new Promise<void>((resolve) => {
      releaseHangs = resolve;
    }),
  };
  const protocolVersions = new Set<string | undefined>();
  let sessionsCreated = 0;
  let notFound = 0;
  let deletes = 0;
  let failures = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_token' }));
      return;
    }
    if (failures > 0) {
      failures--;
      req.socket.destroy();
      return;
    }
    if (req.method === 'DELETE') deletes++;
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const transport = sessions.get(sessionId);
      if (!transport) {
        notFound++;
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }),
        );
        return;
      }
      protocolVersions.add(req.headers['mcp-protocol-version'] as string | undefined);
      await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method === 'POST' && isInitializeRequest(body)) {
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
        },
      });
      everyTransport.add(transport);
      sessionsCreated++;
      await createMcpServer(hangs).connect(transport);
      await transport.handleRequest(req, res, body);
      return;
    }
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'No session' }, id: null }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    sessionsCreated: () => sessionsCreated,
    notFound: () => notFound,
    deletes: () => deletes,
    protocolVersions,
    hanging: () => hangs.count,
    forgetSessions: () => sessions.clear(),
    expireSessions: async () => {
      const expired = [...sessions.values()];
      sessions.clear();
      await Promise.all(expired.map((transport) => transport.close()));
    },
    failNextRequests: (count) => {
      failures = count;
    },
    dropConnections: () => server.closeAllConnections(),
    close: async () => {
      releaseHangs();
      await Promise.all([...everyTransport].map((transport) => transport.close()));
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

// --- the bridge, driven by the SDK's real stdio client ------------------------------------------------------

interface BridgedClient {
  client: Client;
  /** Starts the bridge process and initializes the MCP session through it. */
  connect(): Promise<void>;
  stderr(): string;
  /** What the client reported through onerror (e.g. a response for an unknown id). */
  clientErrors: Error[];
  /** The bridge process's exit code, once it has exited. */
  exitCode(): Promise<number | null>;
}

function bridgedClient(url: string, key: string, extraArgs: string[] = []): BridgedClient {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, '--url', url, ...extraArgs],
    env: { GATEHOUSE_CLIENT_KEY: key, PATH: process.env.PATH ?? '' },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  // The transport exposes the pid but not the exit code, and forgets its child on close(): keep a reference.
  let child: ChildProcess | undefined;
  const start = transport.start.bind(transport);
  transport.start = async () => {
    await start();
    child = (transport as unknown as { _process?: ChildProcess })._process;
  };
  const client = new Client(
    { name: 'bridge-test-client', version: '1.0.0' },
    { capabilities: { roots: {} } },
  );
  const clientErrors: Error[] = [];
  client.onerror = (error) => clientErrors.push(error);
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///projects/alpha', name: 'alpha' }],
  }));
  return {
    client,
    connect: () => client.connect(transport),
    stderr: () => stderr,
    clientErrors,
    exitCode: async () => {
      if (!child) throw new Error('the bridge was never started');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      return child.exitCode;
    },
  };
}

const textOf = (result: Awaited<ReturnType<Client['callTool']>>) =>
  (result.content as Array<{ type: string; text?: string }>).map((part) => part.text ?? '').join('');

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('gatehouse-connect', () => {
  let endpoint: TestEndpoint;

  beforeAll(async () => {
    endpoint = await startTestEndpoint();
  });
  afterAll(async () => {
    await endpoint?.close();
  });

  it('relays tools, progress notifications and server-to-client requests, then ends the session', async () => {
    const { client, connect, stderr, clientErrors, exitCode } = bridgedClient(endpoint.url, KEY);
    const deletesBefore = endpoint.deletes();
    await connect();
    try {
      expect(client.getServerVersion()?.name).toBe('bridge-test-endpoint');

      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(['echo', 'hang', 'progress', 'roots']);

      const echoed = await client.callTool({
        name: 'echo',
        arguments: { message: 'hello through the bridge' },
      });
      expect(textOf(echoed)).toBe('hello through the bridge');

      const progress: Progress[] = [];
      const done = await client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, {
        onprogress: (update) => progress.push(update),
      });
      expect(textOf(done)).toBe('done after 3 steps');
      expect(progress).toEqual([
        { progress: 1, total: 3, message: 'step 1' },
        { progress: 2, total: 3, message: 'step 2' },
        { progress: 3, total: 3, message: 'step 3' },
      ]);

      // A request from the endpoint to the client (roots/list) and its answer cross the bridge too.
      const roots = await client.callTool({ name: 'roots', arguments: {} });
      expect(textOf(roots)).toBe('file:///projects/alpha');

      // The bridge learned the negotiated revision from the initialize response and sends it on.
      expect([...endpoint.protocolVersions]).toEqual([LATEST_PROTOCOL_VERSION]);
      expect(clientErrors).toEqual([]);
    } finally {
      await client.close();
    }
    expect(await exitCode()).toBe(0);
    // Closing stdin ends the session on the endpoint (DELETE) instead of leaving it to expire.
    expect(endpoint.deletes()).toBe(deletesBefore + 1);
    expect(stderr()).toBe('');
  });

  it('starts a new session transparently when the endpoint has forgotten or closed the old one', async () => {
    const { client, connect, stderr, clientErrors } = bridgedClient(endpoint.url, KEY);
    await connect();
    try {
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'one' } }))).toBe('one');
      const sessions = endpoint.sessionsCreated();
      const notFound = endpoint.notFound();

      // Forgotten: the next POST gets 404, so the bridge replays initialize and resends the call.
      endpoint.forgetSessions();
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'two' } }))).toBe('two');
      expect(endpoint.sessionsCreated()).toBe(sessions + 1);
      expect(endpoint.notFound()).toBeGreaterThan(notFound);
      expect(stderr()).toContain('the Gatehouse session expired; started a new one');

      // Closed: the event stream ends and its reconnection gets 404, so the bridge renews before any call.
      await endpoint.expireSessions();
      await until(() => endpoint.sessionsCreated() === sessions + 2);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'three' } }))).toBe('three');
      expect(endpoint.sessionsCreated()).toBe(sessions + 2);

      // The replayed initialize responses never reached the client (it would report their unknown ids).
      expect(clientErrors).toEqual([]);
      expect([...endpoint.protocolVersions]).toEqual([LATEST_PROTOCOL_VERSION]);
    } finally {
      await client.close();
    }
  });

  it('retries an unreachable endpoint with backoff', async () => {
    const { client, connect, stderr } = bridgedClient(endpoint.url, KEY);
    endpoint.failNextRequests(2);
    await connect();
    try {
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'made it' } }))).toBe(
        'made it',
      );
      expect(stderr()).toMatch(/cannot reach Gatehouse \(.+\); retrying in 0\.5 s \(1\/5\)/);
      expect(stderr()).toMatch(/retrying in 1 s \(2\/5\)/);
    } finally {
      endpoint.failNextRequests(0);
      await client.close();
    }
  });

  it('fails a request whose response stream broke, and keeps working', async () => {
    const { client, connect } = bridgedClient(endpoint.url, KEY);
    await connect();
    try {
      const call = client.callTool({ name: 'hang', arguments: {} });
      await until(() => endpoint.hanging() > 0);
      endpoint.dropConnections();
      await expect(call).rejects.toThrow(/closed before the response arrived/);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe(
        'still here',
      );
    } finally {
      await client.close();
    }
  });

  it('reports a rejected key once, answers the request with an error and exits with code 3', async () => {
    const { connect, stderr, exitCode } = bridgedClient(endpoint.url, WRONG_KEY);
    const failure = await connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/rejected the client key \(HTTP 401\)/);
    expect((failure as Error).message).not.toContain(WRONG_KEY);
    expect(await exitCode()).toBe(3);
    const lines = stderr().trim().split('\n');
    expect(lines).toEqual([
      'gatehouse-connect: the endpoint rejected the client key (HTTP 401). ' +
        'Check --key / GATEHOUSE_CLIENT_KEY in the Gatehouse portal.',
    ]);
    expect(stderr()).not.toContain(WRONG_KEY);
  });

  describe('command line', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [CLI, ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', ...env },
        input: '',
        timeout: 10_000,
      });
    const stackTrace = /^\s+at /m;

    it('prints usage for --help on stdout and exits 0', () => {
      const result = run(['--help'], { GATEHOUSE_CLIENT_KEY: KEY });
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: gatehouse-connect --url <endpoint>');
      expect(result.stdout).toContain('GATEHOUSE_CLIENT_KEY');
      expect(result.stdout + result.stderr).not.toContain(KEY);
    });

    it('exits 2 with usage on stderr, and no stack trace, for a missing key, URL or a bad argument', () => {
      const missingKey = run(['--url', endpoint.url]);
      expect(missingKey.status).toBe(2);
      expect(missingKey.stdout).toBe('');
      expect(missingKey.stderr).toContain('gatehouse-connect: missing client key');
      expect(missingKey.stderr).toContain('Usage: gatehouse-connect');
      expect(missingKey.stderr).not.toMatch(stackTrace);

      const missingUrl = run([], { GATEHOUSE_CLIENT_KEY: KEY });
      expect(missingUrl.status).toBe(2);
      expect(missingUrl.stderr).toContain('missing --url');

      const badUrl = run(['--url', 'gatehouse:8443/mcp'], { GATEHOUSE_CLIENT_KEY: KEY });
      expect(badUrl.status).toBe(2);
      expect(badUrl.stderr).toContain('invalid --url');
      expect(badUrl.stderr).not.toMatch(stackTrace);

      // A key misplaced as a positional argument is refused without being echoed.
      const stray = run(['--url', endpoint.url, KEY]);
      expect(stray.status).toBe(2);
      expect(stray.stderr).toContain('Unexpected argument');
      expect(stray.stderr).not.toContain(KEY);
    });
  });
});
