import { createHook } from 'node:async_hooks';
import { McpConfig } from '@gatehouse/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';
import { waitFor } from '../support/processes.js';

/**
 * An idle Gatehouse spends no CPU (ADR 0029): nothing periodic is armed except the documented long-period
 * jobs. Asserted structurally, never by measuring time: every timer created in this process is tracked from
 * its creation (async_hooks `init`) to its end (`destroy`), with the stack that created it. Gatehouse runs
 * in this process, so every timer it or its libraries arm is seen, unref'd ones included (which
 * `process.getActiveResourcesInfo()` would not list).
 */
interface LiveTimer {
  readonly origin: string;
  readonly resource: { _idleTimeout?: number; _repeat?: number | null };
}

const live = new Map<number, LiveTimer>();
const tracker = createHook({
  init(id, type, _trigger, resource) {
    if (type !== 'Timeout') return;
    const frames = (new Error().stack ?? '').split('\n');
    // The frames above `new Timeout` are this hook's own.
    frames.splice(0, frames.findIndex((frame) => frame.includes('new Timeout')) + 1);
    live.set(id, { origin: originOf(frames), resource: resource as LiveTimer['resource'] });
  },
  destroy(id) {
    live.delete(id);
  },
});

/** The first frame that says who wanted the timer: Gatehouse's file, a library's name, or Node's module. */
function originOf(frames: string[]): string {
  for (const frame of frames) {
    if (/node:internal\/(timers|async_hooks)|node:timers|\(node:events|async_hooks/.test(frame)) continue;
    const source = /\/server\/src\/([^:]+)/.exec(frame)?.[1];
    if (source) return `gatehouse:${source}`;
    const library = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(frame)?.[1];
    if (library) return `library:${library}`;
    const test = /\/server\/test\/([^:]+)/.exec(frame)?.[1];
    if (test) return `test:${test}`;
    const node = /\(?(node:[^:]+)/.exec(frame)?.[1];
    if (node) return node;
  }
  return 'unknown';
}

/** What is allowed to stay armed in an idle Gatehouse, with its (long) period or why it ends by itself. */
const ALLOWED: { origin: string; why: string; minPeriodMs?: number }[] = [
  { origin: 'gatehouse:audit/chain-monitor.ts', why: 'daily full chain walk', minPeriodMs: 24 * 3_600_000 },
  { origin: 'gatehouse:audit/maintenance.ts', why: 'daily partition upkeep', minPeriodMs: 24 * 3_600_000 },
  {
    origin: 'gatehouse:identity/login-throttle.ts',
    why: 'throttle pruning, one delete every ten minutes',
    minPeriodMs: 10 * 60_000,
  },
  // Armed while a connection is pooled; closes idle connections after 30 s, then disarms (pool empty).
  { origin: 'library:tarn', why: 'ORM pool reaper while connections are pooled', minPeriodMs: 5_000 },
  // One-shot, armed only by an audit write (start-up's own records): folds them into the usage rollups, then is gone.
  { origin: 'gatehouse:audit/usage-aggregator.ts', why: 'usage fold after a write (one-shot)' },
  // One-shot per idle pooled connection of the audit pools: closes it, then is gone.
  { origin: 'library:pg-pool', why: 'idle connection close (one-shot)' },
  // Node's own check of request and header timeouts on each listening HTTP server (slow-client defence).
  { origin: 'node:_http_server', why: "Node's HTTP request-timeout check", minPeriodMs: 30_000 },
];

/** Gatehouse's and its libraries' timers still armed: repeating ones, and one-shots that have not fired. */
function armedTimers(): { origin: string; periodMs: number; repeats: boolean }[] {
  return [...live.values()]
    .filter((timer) => !timer.origin.startsWith('test:') && timer.origin !== 'unknown')
    .filter((timer) => !/library:(vitest|@vitest|tinypool|tinyrainbow|birpc)/.test(timer.origin))
    .map((timer) => ({
      origin: timer.origin,
      periodMs: timer.resource._idleTimeout ?? -1,
      repeats: typeof timer.resource._repeat === 'number',
    }));
}

function unexpected(timers: ReturnType<typeof armedTimers>) {
  return timers.filter((timer) => {
    const rule = ALLOWED.find((allowed) => allowed.origin === timer.origin);
    if (!rule) return true;
    return rule.minPeriodMs !== undefined && timer.periodMs < rule.minPeriodMs;
  });
}

let gh: TestGatehouse;

beforeAll(async () => {
  tracker.enable();
  gh = await startTestGatehouse({
    GATEHOUSE_LOG_LEVEL: 'warn',
    GATEHOUSE_RUNTIME_HEALTH_INTERVAL_SECONDS: '3600',
    // A short refusal window, so the last test sees the flush disarm without a long wait.
    GATEHOUSE_AUTH_AUDIT_WINDOW_SECONDS: '1',
  });
  // Settled: listening (the start resolved) and the start-up chain walk finished. No HTTP request here: its
  // keep-alive socket would hold timers of its own on both sides.
  await waitFor(() => gh.audit.monitor.status().checkedAt !== null, 'the start-up chain check');
});

afterAll(async () => {
  await gh?.stop();
  tracker.disable();
});

describe('an idle Gatehouse', () => {
  it('arms nothing periodic but the documented long-period jobs', () => {
    const timers = armedTimers();
    expect(unexpected(timers)).toEqual([]);
    // The long jobs are really there (the tracker sees Gatehouse's unref'd timers).
    const origins = new Set(timers.map((timer) => timer.origin));
    expect(origins).toContain('gatehouse:audit/chain-monitor.ts');
    expect(origins).toContain('gatehouse:audit/maintenance.ts');
    // Neither the runtime's health ping and reaper nor the refusal flush: no instance, no refusal.
    expect(origins).not.toContain('gatehouse:runtime/runtime-manager.ts');
    expect(origins).not.toContain('gatehouse:audit/refusal-audit.ts');
    expect(gh.runtime.periodicJobsArmed).toBe(false);
  });

  it("arms the runtime's health ping while an instance runs and disarms it when the last one stops", async () => {
    const instance = gh.runtime.instanceFor(
      {
        mcpId: 'mcp_idleTest',
        slug: 'idle-fx',
        versionId: 'mcv_idleTest',
        config: McpConfig.parse({
          connection: { transport: 'stdio', ...fixtureStdioCommand() },
          timeouts: { connectMs: 20_000, callMs: 5000 },
        }),
      },
      null,
    );
    await instance.ensureStarted();
    const running = armedTimers().filter((timer) => timer.origin === 'gatehouse:runtime/runtime-manager.ts');
    expect(running.map((timer) => timer.periodMs)).toContain(3_600_000);
    expect(running.every((timer) => timer.repeats)).toBe(true);
    expect(gh.runtime.periodicJobsArmed).toBe(true);

    await gh.runtime.stop(instance.key, 'idle test');
    expect(armedTimers().filter((timer) => timer.origin === 'gatehouse:runtime/runtime-manager.ts')).toEqual(
      [],
    );
    expect(gh.runtime.periodicJobsArmed).toBe(false);
    expect(gh.runtime.list()).toEqual([]);
  });
});

describe('the refusal audit of an idle Gatehouse', () => {
  it('arms its flush while refusals are remembered and disarms it once their window is written', async () => {
    const refusalTimers = () =>
      armedTimers().filter((timer) => timer.origin === 'gatehouse:audit/refusal-audit.ts');
    expect(refusalTimers()).toEqual([]);
    const refused = await fetch(`${gh.clientUrl}/mcp`, {
      method: 'POST',
      headers: { authorization: 'Bearer gw_notAKeyOfThisGatehouse', 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(refused.status).toBe(401);
    expect(refusalTimers()).toEqual([
      { origin: 'gatehouse:audit/refusal-audit.ts', periodMs: 1000, repeats: true },
    ]);
    // The window (1 s here) ends, the flush forgets the source, and nothing periodic is left.
    await waitFor(() => refusalTimers().length === 0, 'the refusal flush to disarm', 10_000);
  });
});
