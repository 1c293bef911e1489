import { McpConfig } from '@gatehouse/schema';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/platform/clock.js';
import type { RuntimeSettings } from '../../src/platform/config.js';
import { DomainError } from '../../src/platform/errors.js';
import { RuntimeManager, type RuntimeTarget } from '../../src/runtime/runtime-manager.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { ManualClock } from '../support/clock.js';
import { descendantPids, waitFor } from '../support/processes.js';

const COOLDOWN_MS = 60_000;
/** A restart spawns a fresh fixture process; generous for a loaded machine. */
const RESTART_WAIT_MS = 30_000;

const settings: RuntimeSettings = {
  healthIntervalMs: 600_000,
  idleTimeoutMs: 600_000,
  maxInstances: 20,
  maxResponseBytes: 4 * 1024 * 1024,
  // Restarts after a crash come quickly (real timers); the breakers' cool-downs run on the test's clock.
  restartBackoffMs: 100,
  restartBackoffMaxMs: 10 * COOLDOWN_MS,
  circuitBreakerFailures: 3,
  circuitCooldownMs: COOLDOWN_MS,
  stopGraceMs: 2000,
  stderrLines: 50,
};

const managers: RuntimeManager[] = [];
function harness(clock: Clock, overrides: Partial<RuntimeSettings> = {}): RuntimeManager {
  const runtime = new RuntimeManager({
    settings: { ...settings, ...overrides },
    clock,
    log: pino({ level: 'silent' }),
    credentials: { credentialsFor: async () => ({}) },
    onListing: async () => undefined,
  });
  managers.push(runtime);
  return runtime;
}

let counter = 0;
function sharedFixture(): RuntimeTarget {
  counter++;
  return {
    mcpId: `mcp_breakerTest${counter}`,
    slug: `brk${counter}`,
    versionId: `mcv_breakerTest${counter}`,
    config: McpConfig.parse({
      connection: { transport: 'stdio', ...fixtureStdioCommand() },
      timeouts: { connectMs: 20_000, callMs: 10_000 },
    }),
  };
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

let childrenBefore: number[];
beforeAll(() => {
  childrenBefore = descendantPids();
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((runtime) => runtime.shutdown()));
});

afterAll(async () => {
  await waitFor(
    () => descendantPids().filter((pid) => !childrenBefore.includes(pid)).length === 0,
    'children to exit',
  );
});

describe('circuit breakers of a shared instance', { timeout: 120_000 }, () => {
  it("counts crashes only one user's calls caused against that user, and lets them try again after the cool-down", async () => {
    const clock = new ManualClock();
    const runtime = harness(clock);
    const mcp = sharedFixture();
    const call = (user: string, tool: string, args: Record<string, unknown>) =>
      runtime.instanceFor(mcp, null).callTool(tool, args, { caller: user });
    const ready = () =>
      waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', RESTART_WAIT_MS);

    await call('usr_alice', 'echo', { message: 'warm' });
    for (let crash = 1; crash <= 3; crash++) {
      const error = await failureOf(call('usr_mallory', 'crash', { afterMs: 20 }));
      expect(error.message).toContain('stopped during the call');
      await ready();
    }
    // Mallory's own breaker is open; the instance's is not, and everyone else keeps working.
    const refused = await failureOf(call('usr_mallory', 'echo', { message: 'again' }));
    expect(refused.code).toBe('DOWNSTREAM_UNAVAILABLE');
    expect(refused.message).toContain('Your calls made MCP');
    expect(refused.message).toContain('crash 3 times recently');
    expect(refused.message).toContain('refused for 60s');
    const pidBefore = JSON.parse(textOf(await call('usr_alice', 'whoami', {}))).pid;
    expect(textOf(await call('usr_alice', 'echo', { message: 'fine' }))).toBe('fine');
    // Her crashes count half for the instance (1.5, shown rounded down): it stays closed for the others.
    expect(runtime.list(mcp.mcpId)[0]).toMatchObject({ state: 'ready', consecutiveFailures: 1 });

    // Refusing Mallory did not touch the process, and the cool-down runs on the clock, not on timers.
    clock.advance(COOLDOWN_MS - 1000);
    expect((await failureOf(call('usr_mallory', 'echo', { message: 'early' }))).message).toContain(
      'refused for 1s',
    );
    clock.advance(1000);
    expect(textOf(await call('usr_mallory', 'echo', { message: 'trial' }))).toBe('trial');
    expect(textOf(await call('usr_mallory', 'echo', { message: 'closed' }))).toBe('closed');
    expect(JSON.parse(textOf(await call('usr_alice', 'whoami', {}))).pid).toBe(pidBefore);
  });

  it("counts a crash against the instance when several users' calls were running", async () => {
    const runtime = harness(new ManualClock());
    const mcp = sharedFixture();
    const call = (user: string, tool: string, args: Record<string, unknown>) =>
      runtime.instanceFor(mcp, null).callTool(tool, args, { caller: user });
    await call('usr_alice', 'echo', { message: 'warm' });
    const aliceCall = call('usr_alice', 'sleep', { ms: 5000 });
    await waitFor(() => runtime.list(mcp.mcpId)[0]?.inFlight === 1, "alice's call to run");
    await failureOf(call('usr_mallory', 'crash', { afterMs: 20 }));
    expect((await failureOf(aliceCall)).message).toContain('stopped during the call');
    // Either could have caused it: the instance counts the failure, and nobody's own breaker does.
    expect(runtime.list(mcp.mcpId)[0]?.consecutiveFailures).toBe(1);
    await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', RESTART_WAIT_MS);
    expect(textOf(await call('usr_mallory', 'echo', { message: 'ok' }))).toBe('ok');
  });

  it('opens for everyone on failures no single user caused, then half-opens after a cool-down that doubles while trials fail', async () => {
    const clock = new ManualClock();
    const runtime = harness(clock);
    const mcp = sharedFixture();
    const instance = () => runtime.instanceFor(mcp, null);
    // Calls with no known caller (and crashes with several users' calls running) count for the instance.
    const crash = () => failureOf(instance().callTool('crash', { afterMs: 20 }));
    const echo = (user: string, message: string) =>
      instance().callTool('echo', { message }, { caller: user });

    await echo('usr_alice', 'warm');
    for (let failure = 1; failure <= 3; failure++) {
      await crash();
      if (failure < 3)
        await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', RESTART_WAIT_MS);
    }
    const [open] = runtime.list(mcp.mcpId);
    expect(open).toMatchObject({ state: 'circuit_open', consecutiveFailures: 3, pid: null });
    expect(Date.parse(open?.nextRestartAt ?? '') - clock.now().getTime()).toBe(COOLDOWN_MS);
    const refused = await failureOf(echo('usr_bob', 'refused'));
    expect(refused.message).toContain('failed 3 times recently');
    expect(refused.message).toContain('refused for 60s, then one call tries it again');

    // After the cool-down one trial runs; it crashes too, so the circuit opens again for twice as long.
    clock.advance(COOLDOWN_MS);
    await crash();
    const [reopened] = runtime.list(mcp.mcpId);
    expect(reopened).toMatchObject({ state: 'circuit_open', consecutiveFailures: 4 });
    expect(Date.parse(reopened?.nextRestartAt ?? '') - clock.now().getTime()).toBe(2 * COOLDOWN_MS);
    clock.advance(COOLDOWN_MS);
    expect((await failureOf(echo('usr_bob', 'still'))).message).toContain('refused for 60s');

    // The next trial succeeds: the circuit closes by itself, with no admin restart.
    clock.advance(COOLDOWN_MS);
    expect(textOf(await echo('usr_bob', 'trial'))).toBe('trial');
    expect(runtime.list(mcp.mcpId)[0]).toMatchObject({ state: 'ready', consecutiveFailures: 0 });
    expect(textOf(await echo('usr_alice', 'back'))).toBe('back');
  });

  it('lets only one trial call through while half-open', async () => {
    const clock = new ManualClock();
    const runtime = harness(clock);
    const mcp = sharedFixture();
    const instance = () => runtime.instanceFor(mcp, null);
    await instance().callTool('echo', { message: 'warm' });
    for (let failure = 1; failure <= 3; failure++) {
      await failureOf(instance().callTool('crash', { afterMs: 20 }));
      if (failure < 3)
        await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', RESTART_WAIT_MS);
    }
    clock.advance(COOLDOWN_MS);
    const trial = instance().callTool('sleep', { ms: 500 }, { caller: 'usr_alice' });
    await waitFor(
      () => runtime.list(mcp.mcpId)[0]?.inFlight === 1 && runtime.list(mcp.mcpId)[0]?.state === 'ready',
      'the trial to run',
    );
    const second = await failureOf(instance().callTool('echo', { message: 'x' }, { caller: 'usr_bob' }));
    expect(second.message).toContain('one call is trying it again now');
    expect(textOf(await trial)).toBe('slept 500');
    expect(textOf(await instance().callTool('echo', { message: 'y' }, { caller: 'usr_bob' }))).toBe('y');
  });
});

describe('a hostile tenant of a shared instance', { timeout: 180_000 }, () => {
  const WINDOW_MS = settings.circuitBreakerFailures * COOLDOWN_MS;

  function tenants(clock: ManualClock) {
    const runtime = harness(clock);
    const mcp = sharedFixture();
    const call = (user: string, tool: string, args: Record<string, unknown>, signal?: AbortSignal) =>
      runtime.instanceFor(mcp, null).callTool(tool, args, { caller: user, signal });
    const ready = () =>
      waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'ready', 'the restart', RESTART_WAIT_MS);
    const crash = async (user: string) => {
      await failureOf(call(user, 'crash', { afterMs: 20 }));
      await ready();
    };
    return { runtime, mcp, call, ready, crash };
  }

  it('cannot keep her breaker closed by answered calls between crashes; crashes are forgotten after the window', async () => {
    const clock = new ManualClock();
    const { call, crash } = tenants(clock);
    await call('usr_alice', 'echo', { message: 'warm' });
    await crash('usr_mallory');
    await call('usr_mallory', 'echo', { message: 'answered' });
    await crash('usr_mallory');
    // Outside the window the first two are forgotten: one more crash does not open her breaker.
    clock.advance(WINDOW_MS);
    await crash('usr_mallory');
    expect(textOf(await call('usr_mallory', 'echo', { message: 'still closed' }))).toBe('still closed');
    await crash('usr_mallory');
    await call('usr_mallory', 'echo', { message: 'answered' });
    await crash('usr_mallory');
    // Three crashes within the window, answered calls between them: her breaker is open.
    const refused = await failureOf(call('usr_mallory', 'echo', { message: 'again' }));
    expect(refused.message).toContain('Your calls made MCP');
    expect(refused.message).toContain('crash 3 times recently');
    expect(textOf(await call('usr_alice', 'echo', { message: 'fine' }))).toBe('fine');
  });

  it('counts attributed crashes toward the instance at half weight, so two tenants crashing it in turn open it', async () => {
    const { runtime, mcp, call, crash } = tenants(new ManualClock());
    await call('usr_alice', 'echo', { message: 'warm' });
    for (let i = 0; i < 3; i++) await crash('usr_mallory');
    await crash('usr_trudy');
    await crash('usr_trudy');
    expect(runtime.list(mcp.mcpId)[0]).toMatchObject({ state: 'ready', consecutiveFailures: 2 });
    await failureOf(call('usr_trudy', 'crash', { afterMs: 20 }));
    // 6 × ½ = 3: open for everyone, as three crashes nobody could be blamed for would.
    await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'circuit_open', 'the circuit to open');
    expect((await failureOf(call('usr_bob', 'echo', { message: 'x' }))).message).toContain(
      'failed 3 times recently',
    );
  });

  it('blames nobody when a crash may come from a call its caller cancelled while another user ran', async () => {
    const { runtime, mcp, call } = tenants(new ManualClock());
    await call('usr_alice', 'echo', { message: 'warm' });
    // Mallory's call makes the process exit later; she cancels it at once, so only Alice's call is running then.
    const cancel = new AbortController();
    let sent: () => void = () => undefined;
    const reachedDownstream = new Promise<void>((resolve) => {
      sent = resolve;
    });
    const mallory = failureOf(
      runtime.instanceFor(mcp, null).request(
        (client, options) => {
          const result = client.callTool({ name: 'crash', arguments: { afterMs: 1500 } }, undefined, options);
          sent();
          return result;
        },
        { caller: 'usr_mallory', signal: cancel.signal },
      ),
    );
    await reachedDownstream;
    cancel.abort();
    expect((await mallory).code).not.toBe('DOWNSTREAM_UNAVAILABLE');
    const alice = await failureOf(call('usr_alice', 'sleep', { ms: 10_000 }));
    expect(alice.message).toContain('stopped during the call');
    // Either could have caused it: the instance counts it in full, and Alice is not blamed.
    expect(runtime.list(mcp.mcpId)[0]?.consecutiveFailures).toBe(1);
  });
});

describe('a call cancelled before it reaches a failing instance', { timeout: 60_000 }, () => {
  it('is refused without an unhandled rejection while the instance backs off, and the instance serves again', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // A long backoff (real timer) keeps the instance in `backoff` for the whole test.
      const runtime = harness(new ManualClock(), { restartBackoffMs: 60_000 });
      const mcp = sharedFixture();
      const instance = () => runtime.instanceFor(mcp, null);
      await instance().callTool('echo', { message: 'warm' });
      await failureOf(instance().callTool('crash', { afterMs: 20 }));
      await waitFor(() => runtime.list(mcp.mcpId)[0]?.state === 'backoff', 'the backoff');

      // The client cancelled (notifications/cancelled) before the call got a slot and an instance.
      const cancelled = new AbortController();
      cancelled.abort();
      const refused = await failureOf(
        instance().callTool('echo', { message: 'x' }, { caller: 'usr_alice', signal: cancelled.signal }),
      );
      expect(refused.message).toBe('The call was cancelled by the client');
      // Let every pending rejection surface: none may be left unhandled (the server exits on one).
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
      expect(runtime.list(mcp.mcpId)[0]).toMatchObject({ state: 'backoff', inFlight: 0, queued: 0 });
      // Nothing was started or held by the cancelled call: an admin restart serves again at once.
      const key = runtime.list(mcp.mcpId)[0]?.key ?? '';
      await runtime.restart(key, mcp);
      expect(textOf(await instance().callTool('echo', { message: 'back' }, { caller: 'usr_alice' }))).toBe(
        'back',
      );
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
