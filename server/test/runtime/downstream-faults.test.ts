import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { McpConfig } from '@gatehouse/schema';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSettings } from '../../src/platform/config.js';
import { DomainError } from '../../src/platform/errors.js';
import { HttpLink, type HttpLinkOptions } from '../../src/runtime/http-link.js';
import { JsonRpcPeer } from '../../src/runtime/jsonrpc-peer.js';
import { RuntimeManager, type RuntimeTarget } from '../../src/runtime/runtime-manager.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { ManualClock } from '../support/clock.js';
import { descendantPids, waitFor } from '../support/processes.js';

/**
 * Fault injection against real downstream processes: each case is one the SDK-based client got wrong (a huge
 * answer read whole, a timed-out request's socket kept open, a closed pipe noticed only by the next ping,
 * progress not resetting the timeout, MaxListenersExceededWarning). Only states are asserted, never durations.
 */

const MAX_RESPONSE = 1024 * 1024;
/** What the link accepts for one message: a response at the limit plus its envelope (see instance.ts). */
const LINK_CAP = MAX_RESPONSE * 2 + 65_536;
const HUGE = 50 * 1024 * 1024;

const settings: RuntimeSettings = {
  healthIntervalMs: 600_000,
  idleTimeoutMs: 600_000,
  maxInstances: 20,
  maxResponseBytes: MAX_RESPONSE,
  restartBackoffMs: 100,
  restartBackoffMaxMs: 1000,
  circuitBreakerFailures: 5,
  circuitCooldownMs: 60_000,
  stopGraceMs: 2000,
  stderrLines: 50,
  callMaxTotalMs: 4000,
};

const managers: RuntimeManager[] = [];
function harness(): RuntimeManager {
  const runtime = new RuntimeManager({
    settings,
    clock: new ManualClock(),
    log: pino({ level: 'silent' }),
    credentials: { credentialsFor: async () => ({}) },
    onListing: async () => undefined,
  });
  managers.push(runtime);
  return runtime;
}

let counter = 0;
function target(connection: Record<string, unknown>, callMs: number) {
  counter++;
  return {
    mcpId: `mcp_faultTest${counter}`,
    slug: `fault${counter}`,
    versionId: `mcv_faultTest${counter}`,
    config: McpConfig.parse({
      connection,
      timeouts: { connectMs: 20_000, callMs },
      limits: { maxConcurrentCalls: 64 },
    }),
  } satisfies RuntimeTarget;
}

const textOf = (result: { content: unknown }) =>
  (result.content as { type: string; text?: string }[]).map((block) => block.text ?? '').join('');

async function failureOf(promise: Promise<unknown>): Promise<DomainError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(DomainError);
  return outcome as DomainError;
}

const TSX_LOADER_URL = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
const FAULT_SERVER = path.join(import.meta.dirname, '../fixtures/fault-http-server.ts');

interface FaultStats {
  hugeWritten: number;
  hugeClosedEarly: number;
  hangOpen: number;
  hangClosed: number;
  hangPeak: number;
  calls: number;
  lists: number;
  getOpened: number;
  getClosed: number;
  cancelOpen: number;
  cancelClosed: number;
  lingerClosed: number;
  slowInit: string[];
}

let faultServer: ChildProcess;
let faultUrl: string;
const stats = async (query = ''): Promise<FaultStats> =>
  (await fetch(new URL(`/stats${query}`, faultUrl))).json() as Promise<FaultStats>;

let childrenBefore: number[];
beforeAll(async () => {
  childrenBefore = descendantPids();
  faultServer = spawn(process.execPath, ['--import', TSX_LOADER_URL, FAULT_SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    faultServer.stdout?.setEncoding('utf8');
    faultServer.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const match = /\{"port":(\d+)\}/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    faultServer.once('exit', () => reject(new Error('the fault fixture exited before listening')));
  });
  faultUrl = `http://127.0.0.1:${port}/mcp`;
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((runtime) => runtime.shutdown()));
});

afterAll(async () => {
  faultServer.kill('SIGTERM');
  await waitFor(
    () => descendantPids().filter((pid) => !childrenBefore.includes(pid)).length === 0,
    'children to exit',
  );
});

const httpTarget = (callMs: number) => target({ transport: 'streamable-http', url: faultUrl }, callMs);

describe('HTTP downstream faults', () => {
  it.each([
    ['application/json', false],
    ['text/event-stream', true],
  ])(
    'refuses a 50 MB %s answer while reading it, and stops the downstream writing near the cap',
    async (_type, sse) => {
      const runtime = harness();
      const mcp = httpTarget(60_000);
      const instance = runtime.instanceFor(mcp, null);
      const before = await stats();
      const failure = await failureOf(instance.callTool('huge', { sse }));
      expect(failure.code).toBe('DOWNSTREAM_FAILED');
      expect(failure.message).toContain('response limit');
      // The fixture sees the connection end early; what it managed to write is the cap plus socket buffers.
      const after = await waitFor(async () => {
        const now = await stats();
        return now.hugeClosedEarly > before.hugeClosedEarly ? now : null;
      }, 'the fixture to see the connection end');
      const written = after.hugeWritten - before.hugeWritten;
      expect(written).toBeGreaterThan(LINK_CAP);
      expect(written).toBeLessThan(LINK_CAP + 16 * 1024 * 1024);
      expect(written).toBeLessThan(HUGE / 2);
      // The instance is unharmed: the next call is served.
      expect(textOf(await instance.callTool('echo', { message: 'still here' }))).toBe('still here');
    },
  );

  it("closes a timed-out call's connection at once, and warns about no listeners however many calls", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const runtime = harness();
      const instance = runtime.instanceFor(httpTarget(1000), null);
      const before = await stats();
      const hung = Array.from({ length: 24 }, () => failureOf(instance.callTool('hang', {})));
      const echoed = Array.from({ length: 24 }, (_, i) => instance.callTool('echo', { message: `m${i}` }));
      expect((await Promise.all(echoed)).map(textOf)).toEqual(Array.from({ length: 24 }, (_, i) => `m${i}`));
      for (const failure of await Promise.all(hung)) expect(failure.code).toBe('DOWNSTREAM_TIMEOUT');
      // The fixture observes every hung request's connection closed; none stays open.
      const after = await waitFor(async () => {
        const now = await stats();
        return now.hangClosed - before.hangClosed === 24 ? now : null;
      }, 'the fixture to see every timed-out request closed');
      expect(after.hangOpen).toBe(0);
      for (let round = 0; round < 4; round++) {
        await Promise.all(Array.from({ length: 16 }, () => instance.callTool('echo', { message: 'x' })));
      }
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});

describe('HTTP downstream: the standing stream and exchanges that end', () => {
  const peers: JsonRpcPeer[] = [];
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((peer) => peer.close()));
  });
  /** The lean client alone (no runtime), so the link's limits can be made small. */
  async function leanPeer(options: Partial<HttpLinkOptions> = {}): Promise<JsonRpcPeer> {
    const link = new HttpLink({ url: faultUrl, headers: {}, maxMessageBytes: 1 << 20, ...options });
    const peer = new JsonRpcPeer(
      link,
      { onNotification: () => undefined, onRequest: async () => ({}) },
      () => {},
    );
    peers.push(peer);
    await peer.start();
    return peer;
  }

  it('opens the GET stream on a 200 to initialized, reopens it once cut, and hears list_changed on it', async () => {
    const before = await stats();
    const runtime = harness();
    const instance = runtime.instanceFor(httpTarget(5000), null);
    expect(textOf(await instance.callTool('echo', { message: 'hi' }))).toBe('hi');
    await waitFor(async () => (await stats()).getOpened - before.getOpened === 1, 'the standing stream');
    expect(textOf(await instance.callTool('cut-streams', {}))).toBe('1');
    const reopened = await waitFor(async () => {
      const now = await stats();
      return now.getOpened - before.getOpened === 2 ? now : null;
    }, 'the standing stream to be reopened');
    expect(reopened.getClosed - before.getClosed).toBe(1);
    // The downstream's announcement on the new stream makes the instance list its tools again.
    const listed = reopened.lists;
    await instance.callTool('announce', {});
    await waitFor(async () => (await stats()).lists > listed, 'the re-listing after list_changed');
    await runtime.shutdown();
    await waitFor(
      async () => (await stats()).getClosed - before.getClosed === 2,
      'the stream closed with the link',
    );
  });

  it('abandons a notification to a hung downstream after the short exchange limit', async () => {
    const peer = await leanPeer({ shortExchangeMs: 200 });
    const before = await stats();
    await expect(
      peer.request('tools/call', { name: 'hang', arguments: {} }, { timeout: 300 }),
    ).rejects.toThrow(/timed out/);
    // The downstream never answers the cancellation; its exchange is ended all the same.
    const after = await waitFor(async () => {
      const now = await stats();
      return now.cancelClosed - before.cancelClosed === 1 ? now : null;
    }, 'the cancellation exchange to end');
    expect(after.cancelOpen).toBe(before.cancelOpen);
    expect(after.hangClosed - before.hangClosed).toBe(1);
  });

  it('ends an event-stream answer once the response to its id has arrived', async () => {
    const peer = await leanPeer();
    const before = await stats();
    const result = await peer.request('tools/call', { name: 'linger', arguments: {} }, { timeout: 5000 });
    expect(textOf(result as { content: unknown })).toBe('lingered');
    await waitFor(
      async () => (await stats()).lingerClosed - before.lingerClosed === 1,
      'the answer stream to end',
    );
  });

  it('never holds more sockets than its connection cap, however many calls hang', async () => {
    const peer = await leanPeer({ connections: 2, shortExchangeMs: 100 });
    await stats('?reset=peak');
    const hung = Array.from({ length: 6 }, () =>
      peer
        .request('tools/call', { name: 'hang', arguments: {} }, { timeout: 300 })
        .catch((error: Error) => error),
    );
    for (const outcome of await Promise.all(hung)) expect(String(outcome)).toContain('timed out');
    const after = await stats();
    expect(after.hangPeak).toBeGreaterThan(0);
    expect(after.hangPeak).toBeLessThanOrEqual(2);
  });

  it('does not cancel a timed-out initialize, as MCP requires', async () => {
    const peer = await leanPeer({ url: new URL('/mcp-slow-init', faultUrl).toString(), connections: 1 });
    const before = (await stats()).slowInit.length;
    await expect(
      peer.request(
        'initialize',
        { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
        { timeout: 300 },
      ),
    ).rejects.toThrow(/timed out/);
    // One socket: anything sent after the timeout reaches the server before this ping.
    await peer.request('ping', undefined, { timeout: 5000 });
    expect((await stats()).slowInit.slice(before)).toEqual(['initialize', 'ping']);
  });
});

describe('stdio downstream closing a pipe while alive', () => {
  it.each([
    ['close-stdout', 'closed its stdout'],
    ['close-stdin', 'closed its stdin'],
  ])(
    '%s fails the call in flight as a closed connection, and the next call gets a new process',
    async (tool, why) => {
      const runtime = harness();
      // Far above the test's own timeout: only noticing the closed pipe can end this call in time.
      const mcp = target(
        { transport: 'stdio', ...fixtureStdioCommand(), env: { FIXTURE_FAULTS: '1' } },
        3_000_000,
      );
      const instance = runtime.instanceFor(mcp, null);
      const first = JSON.parse(textOf(await instance.callTool('whoami', {}))) as { pid: number };
      const failure = await failureOf(instance.callTool(tool, {}));
      expect(failure.code).toBe('DOWNSTREAM_UNAVAILABLE');
      expect(failure.message).toContain('stopped during the call');
      expect(failure.message).toContain(why);
      const restarted = await waitFor(
        () => {
          const fresh = runtime.instanceFor(mcp, null);
          return fresh.isReady ? fresh : null;
        },
        'the instance to restart',
        20_000,
      );
      const second = JSON.parse(textOf(await restarted.callTool('whoami', {}))) as { pid: number };
      expect(second.pid).not.toBe(first.pid);
    },
  );
});

describe('progress and the call timeouts', () => {
  it('lets progress keep a call alive past the idle timeout, but ends it at the maximum total time', async () => {
    const runtime = harness();
    const mcp = target({ transport: 'stdio', ...fixtureStdioCommand() }, 1000);
    const instance = runtime.instanceFor(mcp, null);
    const seen: number[] = [];
    // 8 steps 200 ms apart: longer than the 1 s idle timeout in all, never 1 s without progress.
    const result = await instance.callTool(
      'progress',
      { steps: 8, intervalMs: 200 },
      { onProgress: ({ progress }) => seen.push(progress) },
    );
    expect(textOf(result)).toBe('done 8');
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    // 60 steps would take 12 s: the 4 s maximum ends it although progress never stops.
    const late: number[] = [];
    const failure = await failureOf(
      instance.callTool(
        'progress',
        { steps: 60, intervalMs: 200 },
        { onProgress: ({ progress }) => late.push(progress) },
      ),
    );
    expect(failure.code).toBe('DOWNSTREAM_TIMEOUT');
    expect(failure.message).toContain('longest a call may run');
    expect(late.length).toBeGreaterThan(5);
    expect(late.length).toBeLessThan(60);
  });
});
