import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { McpConfig, type McpConfigInput } from '@gatehouse/schema';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSettings } from '../../src/platform/config.js';
import { DomainError } from '../../src/platform/errors.js';
import type { ToolAndPromptListing } from '../../src/runtime/downstream.js';
import type { McpInstance } from '../../src/runtime/instance.js';
import { RuntimeManager, type RuntimeTarget } from '../../src/runtime/runtime-manager.js';
import { fixtureStdioCommand, startFixtureHttp } from '../fixtures/fixture-launch.js';
import { descendantPids, isAlive, waitFor } from '../support/processes.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

const baseSettings: RuntimeSettings = {
  healthIntervalMs: 60_000,
  idleTimeoutMs: 60_000,
  maxInstances: 20,
  maxResponseBytes: 4 * 1024 * 1024,
  restartBackoffMs: 1000,
  restartBackoffMaxMs: 300_000,
  circuitBreakerFailures: 5,
  circuitCooldownMs: 300_000,
  stopGraceMs: 2000,
  stderrLines: 50,
};

/** Unit-level harness: the real runtime and real processes, with an in-memory credential source. */
function harness(
  settings: Partial<RuntimeSettings> = {},
  credentials: Record<string, Record<string, string>> = {},
) {
  const listings: { key: string; listing: ToolAndPromptListing }[] = [];
  const runtime = new RuntimeManager({
    settings: { ...baseSettings, ...settings },
    log: pino({ level: 'silent' }),
    credentials: {
      credentialsFor: async ({ userId }) => credentials[userId ?? 'shared'] ?? {},
    },
    onListing: async (spec, listing) => {
      listings.push({ key: spec.key, listing });
    },
  });
  managers.push(runtime);
  return { runtime, listings };
}

const managers: RuntimeManager[] = [];
let counter = 0;

function target(config: McpConfigInput): RuntimeTarget {
  counter++;
  return {
    mcpId: `mcp_runtimeTest${counter}`,
    slug: `fx${counter}`,
    versionId: `mcv_runtimeTest${counter}`,
    config: McpConfig.parse(config),
  };
}

const fixture = (
  overrides: Partial<McpConfigInput> = {},
  env: Record<string, string> = {},
): McpConfigInput => ({
  connection: { transport: 'stdio', ...fixtureStdioCommand(), env },
  timeouts: { connectMs: 20_000, callMs: 5000 },
  ...overrides,
});

const perUserFixture = (overrides: Partial<McpConfigInput> = {}): McpConfigInput =>
  fixture(
    {
      isolation: 'per-user',
      credentials: [
        { name: 'API_KEY', label: 'API key', inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' } },
      ],
      ...overrides,
    },
    { FIXTURE_STDERR_CREDENTIAL: '1' },
  );

/** A call straight on the instance serving `userId` (this suite tests the runtime, not authorization). */
const callOn = async (
  runtime: RuntimeManager,
  target: RuntimeTarget,
  userId: string | null,
  ...call: Parameters<McpInstance['callTool']>
) => runtime.instanceFor(target, userId).callTool(...call);

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

let childrenBefore: number[];
beforeAll(() => {
  childrenBefore = descendantPids();
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((runtime) => runtime.shutdown()));
});

afterAll(async () => {
  // Every downstream process this suite started is gone: nothing leaked.
  await waitFor(
    () => descendantPids().filter((pid) => !childrenBefore.includes(pid)).length === 0,
    'children to exit',
  );
  expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
});

describe('per-user instances', () => {
  it('run one process per user, each with only its own credential and an allow-listed environment', async () => {
    process.env.GATEHOUSE_PARENT_SECRET = 'parent-secret-never-inherited';
    const { runtime } = harness(
      {},
      { usr_alice: { API_KEY: 'alice-key-123' }, usr_bob: { API_KEY: 'bob-key-456' } },
    );
    const mcp = target(perUserFixture());
    const [alice, bob] = await Promise.all([
      callOn(runtime, mcp, 'usr_alice', 'whoami', {}),
      callOn(runtime, mcp, 'usr_bob', 'whoami', {}),
    ]);
    const aliceInfo = JSON.parse(textOf(alice));
    const bobInfo = JSON.parse(textOf(bob));
    expect(aliceInfo.pid).not.toBe(bobInfo.pid);
    expect(aliceInfo.credentialHash).toBe(sha256('alice-key-123'));
    expect(bobInfo.credentialHash).toBe(sha256('bob-key-456'));
    expect(aliceInfo.envKeys).not.toContain('GATEHOUSE_PARENT_SECRET');
    expect(aliceInfo.envKeys).toContain('PATH');
    expect(textOf(alice)).not.toContain('alice-key-123');

    // A second call of the same user reuses that user's process.
    const again = JSON.parse(textOf(await callOn(runtime, mcp, 'usr_alice', 'whoami', {})));
    expect(again.pid).toBe(aliceInfo.pid);
    expect(runtime.list(mcp.mcpId).map((status) => status.userId)).toEqual(['usr_alice', 'usr_bob']);

    // The fixture prints its credential to stderr; the captured copy is redacted.
    const key = `${mcp.versionId}/usr_alice`;
    await waitFor(() => runtime.logs(key).some((line) => line.text.includes('fixture credential')), 'stderr');
    const logs = runtime.logs(key).map((line) => line.text);
    expect(logs).toContain('fixture credential is [REDACTED]');
    expect(logs.join('\n')).not.toContain('alice-key-123');
  });

  it('refuses to start without the required credentials, with a clear error', async () => {
    const { runtime } = harness();
    const mcp = target(perUserFixture());
    const error = await failureOf(callOn(runtime, mcp, 'usr_nobody', 'echo', { message: 'x' }));
    expect(error.code).toBe('PRECONDITION_FAILED');
    expect(error.message).toContain('needs credentials that are not set: API key');
    expect(runtime.list(mcp.mcpId)).toEqual([]);
  });

  it('reaps an idle instance without touching another user or a call in flight', async () => {
    const { runtime } = harness(
      { idleTimeoutMs: 1000 },
      { usr_idle: { API_KEY: 'idle-key' }, usr_busy: { API_KEY: 'busy-key' } },
    );
    const mcp = target(perUserFixture());
    const idlePid = JSON.parse(textOf(await callOn(runtime, mcp, 'usr_idle', 'whoami', {}))).pid;
    const busyPid = JSON.parse(textOf(await callOn(runtime, mcp, 'usr_busy', 'whoami', {}))).pid;
    const longCall = callOn(runtime, mcp, 'usr_busy', 'sleep', { ms: 3000 });
    await waitFor(() => !isAlive(idlePid), 'the idle instance to be reaped', 5000);
    expect(runtime.list(mcp.mcpId).map((s) => s.userId)).toEqual(['usr_busy']);
    expect(isAlive(busyPid)).toBe(true);
    expect(textOf(await longCall)).toBe('slept 3000');
    // The idle user's next call simply starts a fresh process.
    const fresh = JSON.parse(textOf(await callOn(runtime, mcp, 'usr_idle', 'whoami', {})));
    expect(fresh.pid).not.toBe(idlePid);
  });

  it('reaps a failing per-user instance too, so it stops retrying and frees its slot', async () => {
    const { runtime } = harness({ idleTimeoutMs: 1000, restartBackoffMs: 5000 }, { usr_f: { API_KEY: 'k' } });
    const mcp = target({
      connection: { transport: 'stdio', command: process.execPath, args: ['-e', 'process.exit(3)'] },
      isolation: 'per-user',
    });
    await failureOf(callOn(runtime, mcp, 'usr_f', 'echo', { message: 'x' }));
    expect(runtime.list(mcp.mcpId)[0]?.state).toBe('backoff');
    await waitFor(() => runtime.list(mcp.mcpId).length === 0, 'the failed instance to be reaped', 5000);
  });

  it('refuses a user beyond the per-MCP cap, and any instance beyond the global cap, with a capacity error', async () => {
    const creds = { usr_a: { API_KEY: 'key-a' }, usr_b: { API_KEY: 'key-b' }, usr_c: { API_KEY: 'key-c' } };
    const { runtime } = harness({ maxInstances: 3 }, creds);
    const mcp = target(perUserFixture({ limits: { maxInstances: 2, maxConcurrentCalls: 4 } }));
    await callOn(runtime, mcp, 'usr_a', 'echo', { message: 'a' });
    await callOn(runtime, mcp, 'usr_b', 'echo', { message: 'b' });
    const error = await failureOf(callOn(runtime, mcp, 'usr_c', 'echo', { message: 'c' }));
    expect(error.code).toBe('CAPACITY_EXCEEDED');
    expect(error.message).toContain('already runs 2 per-user instances, its limit');

    const shared = target(fixture());
    await callOn(runtime, shared, null, 'echo', { message: 'shared' });
    const global = await failureOf(callOn(runtime, target(fixture()), null, 'echo', { message: 'over' }));
    expect(global.code).toBe('CAPACITY_EXCEEDED');
    expect(global.message).toContain('3 downstream instances, its limit');
  });
});

describe('supervision', () => {
  it('fails a call fast when the process crashes mid-call, then restarts it with backoff', async () => {
    const { runtime } = harness();
    const mcp = target(fixture({ timeouts: { connectMs: 20_000, callMs: 20_000 } }));
    const firstPid = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid;
    const started = Date.now();
    const error = await failureOf(callOn(runtime, mcp, null, 'crash', { afterMs: 100 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.code).toBe('DOWNSTREAM_UNAVAILABLE');
    expect(error.message).toContain('stopped during the call (process exited with code 1)');

    const [status] = runtime.list(mcp.mcpId);
    expect(status?.state).toBe('backoff');
    expect(status?.healthy).toBe(false);
    expect(status?.lastError).toBe('process exited with code 1');
    const delay = Date.parse(status?.nextRestartAt ?? '') - Date.now();
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThanOrEqual(1000);
    // While backing off, calls are refused at once rather than left hanging.
    const refused = await failureOf(callOn(runtime, mcp, null, 'echo', { message: 'x' }));
    expect(refused.message).toMatch(/restarting after a failure .* next attempt in \ds/);

    await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', 10_000);
    expect(runtime.list(mcp.mcpId)[0]?.restarts).toBe(1);
    const secondPid = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid;
    expect(secondPid).not.toBe(firstPid);
    expect(isAlive(firstPid)).toBe(false);
  });

  it('doubles the backoff on each consecutive failure and opens the circuit after repeated failures', async () => {
    const { runtime } = harness({
      restartBackoffMs: 200,
      circuitBreakerFailures: 3,
      restartBackoffMaxMs: 60_000,
    });
    const mcp = target({
      connection: { transport: 'stdio', command: process.execPath, args: ['-e', 'process.exit(3)'] },
      timeouts: { connectMs: 5000, callMs: 5000 },
    });
    const first = await failureOf(callOn(runtime, mcp, null, 'echo', { message: 'x' }));
    expect(first.code).toBe('DOWNSTREAM_UNAVAILABLE');
    expect(first.message).toContain('could not start');
    // Remaining wait, as first seen after each failure (the poll runs every 50 ms).
    const waits = new Map<number, number>();
    await waitFor(
      () => {
        const [status] = runtime.list(mcp.mcpId);
        if (status?.nextRestartAt && !waits.has(status.consecutiveFailures)) {
          waits.set(status.consecutiveFailures, Date.parse(status.nextRestartAt) - Date.now());
        }
        return status?.state === 'circuit_open';
      },
      'the circuit to open',
      10_000,
    );
    expect([...waits.keys()]).toEqual([1, 2, 3]);
    expect(waits.get(1)).toBeGreaterThan(100);
    expect(waits.get(1)).toBeLessThanOrEqual(200);
    expect(waits.get(2)).toBeGreaterThan(300);
    expect(waits.get(2)).toBeLessThanOrEqual(400);
    const [status] = runtime.list(mcp.mcpId);
    // Open circuit: the next probe waits for the longest backoff, and calls are refused immediately.
    expect(Date.parse(status?.nextRestartAt ?? '') - Date.now()).toBeGreaterThan(50_000);
    const refused = await failureOf(callOn(runtime, mcp, null, 'echo', { message: 'x' }));
    expect(refused.message).toContain('failed 3 times recently');
  });

  it('times out a hanging call and sends the downstream a cancellation it observes', async () => {
    const { runtime } = harness();
    const mcp = target(fixture({ timeouts: { connectMs: 20_000, callMs: 1000 } }));
    await callOn(runtime, mcp, null, 'echo', { message: 'warm' });
    const started = Date.now();
    const error = await failureOf(callOn(runtime, mcp, null, 'sleep', { ms: 30_000 }));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error.code).toBe('DOWNSTREAM_TIMEOUT');
    expect(error.message).toContain('did not answer within 1s; the call was cancelled');
    const cancellations = await waitFor(async () => {
      const list = JSON.parse(textOf(await callOn(runtime, mcp, null, 'cancellations', {})));
      return list.length > 0 ? list : null;
    }, 'the fixture to observe the cancellation');
    expect(cancellations[0].reason).toContain('Request timed out');
  });

  it('forwards a client cancellation downstream', async () => {
    const { runtime } = harness();
    const mcp = target(fixture());
    await callOn(runtime, mcp, null, 'echo', { message: 'warm' });
    const controller = new AbortController();
    const call = callOn(runtime, mcp, null, 'sleep', { ms: 30_000 }, { signal: controller.signal });
    setTimeout(() => controller.abort('user pressed stop'), 200);
    await expect(call).rejects.toThrow();
    const cancellations = await waitFor(async () => {
      const list = JSON.parse(textOf(await callOn(runtime, mcp, null, 'cancellations', {})));
      return list.length > 0 ? list : null;
    }, 'the fixture to observe the cancellation');
    expect(cancellations[0].reason).toContain('user pressed stop');
  });

  it('marks an unresponsive instance unhealthy, kills it and restarts it', async () => {
    const { runtime } = harness({ healthIntervalMs: 500, restartBackoffMs: 200 });
    const mcp = target(fixture());
    const pid = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid;
    process.kill(pid, 'SIGSTOP');
    await waitFor(
      () => runtime.list(mcp.mcpId)[0]?.lastError?.includes('health ping'),
      'a missed ping',
      10_000,
    );
    await waitFor(() => !isAlive(pid), 'the frozen process to be killed', 10_000);
    await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', 15_000);
    const fresh = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {})));
    expect(fresh.pid).not.toBe(pid);
  });

  it('refuses responses above the size limit with a clear error and keeps serving', async () => {
    const { runtime } = harness({ maxResponseBytes: 64 * 1024 });
    const mcp = target(fixture());
    const error = await failureOf(callOn(runtime, mcp, null, 'large', { bytes: 100 * 1024 }));
    expect(error.code).toBe('DOWNSTREAM_FAILED');
    expect(error.message).toMatch(/returned 1\d\d KiB, more than the 64 KiB response limit/);
    expect(textOf(await callOn(runtime, mcp, null, 'large', { bytes: 1000 }))).toHaveLength(1000);
  });

  it('ends the connection with a clear reason when one message exceeds what can be buffered', async () => {
    const { runtime } = harness({ maxResponseBytes: 64 * 1024 });
    const mcp = target(fixture());
    const error = await failureOf(callOn(runtime, mcp, null, 'large', { bytes: 400 * 1024 }));
    expect(error.code).toBe('DOWNSTREAM_UNAVAILABLE');
    expect(error.message).toContain('sent a message larger than 192 KiB');
  });

  it('survives a stray non-JSON line on stdout', async () => {
    const { runtime } = harness();
    const mcp = target(fixture());
    const pid = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid;
    expect(textOf(await callOn(runtime, mcp, null, 'stdout-noise', {}))).toBe('ok');
    expect(JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid).toBe(pid);
  });

  it('relays progress notifications to the caller', async () => {
    const { runtime } = harness();
    const mcp = target(fixture());
    const progress: number[] = [];
    const result = await callOn(
      runtime,
      mcp,
      null,
      'progress',
      { steps: 3 },
      { onProgress: (update) => progress.push(update.progress) },
    );
    expect(textOf(result)).toBe('done 3');
    expect(progress).toEqual([1, 2, 3]);
  });

  it('bounds concurrent calls per instance with a short queue and refuses beyond it', async () => {
    const { runtime } = harness();
    const mcp = target(fixture({ limits: { maxConcurrentCalls: 1, maxInstances: 1 } }));
    await callOn(runtime, mcp, null, 'echo', { message: 'warm' });
    const running = callOn(runtime, mcp, null, 'sleep', { ms: 800 });
    const queued = callOn(runtime, mcp, null, 'echo', { message: 'queued' });
    const error = await failureOf(callOn(runtime, mcp, null, 'echo', { message: 'refused' }));
    expect(error.code).toBe('CAPACITY_EXCEEDED');
    expect(error.message).toContain('limit of 1 concurrent calls with 1 waiting');
    expect(runtime.list(mcp.mcpId)[0]).toMatchObject({ inFlight: 1, queued: 1 });
    expect(textOf(await running)).toBe('slept 800');
    expect(textOf(await queued)).toBe('queued');
  });

  it('an admin stop ends the process and fails the in-flight call with the reason', async () => {
    const { runtime } = harness();
    const mcp = target(fixture());
    const pid = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid;
    const call = callOn(runtime, mcp, null, 'sleep', { ms: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await runtime.stop(mcp.versionId, 'maintenance');
    const error = await failureOf(call);
    expect(error.message).toContain('stopped during the call (maintenance)');
    expect(isAlive(pid)).toBe(false);
    expect(runtime.list(mcp.mcpId)).toEqual([]);
  });

  it('stops the whole process group, grandchildren included', async () => {
    const { runtime } = harness();
    const launcher = path.join(tmpdir(), `gatehouse-launcher-${process.pid}.mjs`);
    // Like `npx`: a launcher process that runs the real server as its child.
    const { command, args } = fixtureStdioCommand();
    writeFileSync(
      launcher,
      `import { spawn } from 'node:child_process';\n` +
        `const child = spawn(${JSON.stringify(command)}, ${JSON.stringify(args)}, { stdio: 'inherit' });\n` +
        `process.on('SIGTERM', () => {});\n` +
        `child.on('exit', (code) => process.exit(code ?? 0));\n`,
    );
    const mcp = target({
      connection: { transport: 'stdio', command: process.execPath, args: [launcher] },
      timeouts: { connectMs: 20_000, callMs: 5000 },
    });
    const serverPid = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {}))).pid;
    const launcherPid = runtime.list(mcp.mcpId)[0]?.pid ?? 0;
    expect(serverPid).not.toBe(launcherPid);
    await runtime.shutdown();
    expect(isAlive(serverPid)).toBe(false);
    expect(isAlive(launcherPid)).toBe(false);
  });
});

describe('transports and real servers', () => {
  it('connects over Streamable HTTP with the credential injected as a header', async () => {
    const server = await startFixtureHttp('http');
    try {
      const { runtime } = harness({}, { usr_h: { TOKEN: 'header-secret-1' } });
      const mcp = target({
        connection: {
          transport: 'streamable-http',
          url: server.url,
          headers: { 'x-fixture-credential': '{{credential:TOKEN}}' },
        },
        isolation: 'per-user',
        credentials: [{ name: 'TOKEN', label: 'Token' }],
      });
      const info = JSON.parse(textOf(await callOn(runtime, mcp, 'usr_h', 'whoami', {})));
      expect(info.headerCredentialHash).toBe(sha256('header-secret-1'));
    } finally {
      await server.close();
    }
  });

  it('connects over legacy SSE', async () => {
    const server = await startFixtureHttp('sse');
    try {
      const { runtime, listings } = harness({}, { shared: { TOKEN: 'sse-secret' } });
      const mcp = target({
        connection: { transport: 'sse', url: server.url },
        credentials: [
          { name: 'TOKEN', label: 'Token', inject: { into: 'header', name: 'x-fixture-credential' } },
        ],
      });
      expect(textOf(await callOn(runtime, mcp, null, 'echo', { message: 'over sse' }))).toBe('over sse');
      const info = JSON.parse(textOf(await callOn(runtime, mcp, null, 'whoami', {})));
      expect(info.headerCredentialHash).toBe(sha256('sse-secret'));
      expect(listings[0]?.listing.tools.map((tool) => tool.name)).toContain('echo');
    } finally {
      await server.close();
    }
  });

  it('runs @modelcontextprotocol/server-everything and server-memory over stdio', async () => {
    const require = createRequire(import.meta.url);
    const everythingEntry = path.join(
      path.dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
      'dist/index.js',
    );
    const memoryEntry = path.join(
      path.dirname(require.resolve('@modelcontextprotocol/server-memory/package.json')),
      'dist/index.js',
    );
    const { runtime, listings } = harness();
    const everything = target({
      connection: { transport: 'stdio', command: process.execPath, args: [everythingEntry, 'stdio'] },
    });
    const echoed = await callOn(runtime, everything, null, 'echo', { message: 'hello' });
    expect(textOf(echoed)).toBe('Echo: hello');
    // get-env shows exactly what the downstream received: our allow-list, not Gatehouse's environment.
    const env = JSON.parse(textOf(await callOn(runtime, everything, null, 'get-env', {})));
    expect(env.GATEHOUSE_PARENT_SECRET).toBeUndefined();
    expect(Object.keys(env)).not.toContain('DATABASE_URL');

    const memory = target({
      connection: {
        transport: 'stdio',
        command: process.execPath,
        args: [memoryEntry],
        env: { MEMORY_FILE_PATH: path.join(tmpdir(), `gatehouse-memory-${process.pid}.jsonl`) },
      },
    });
    const created = await callOn(runtime, memory, null, 'create_entities', {
      entities: [{ name: 'gatehouse', entityType: 'project', observations: ['governs MCP'] }],
    });
    expect(textOf(created)).toContain('gatehouse');
    const names = listings.map((entry) => entry.listing.tools.map((tool) => tool.name));
    expect(names.flat()).toEqual(
      expect.arrayContaining(['echo', 'get-env', 'create_entities', 'read_graph']),
    );
  });
});
