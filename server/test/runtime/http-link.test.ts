import { McpConfig } from '@gatehouse/schema';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSettings } from '../../src/platform/config.js';
import { DomainError } from '../../src/platform/errors.js';
import type { ServerToClientRequest } from '../../src/runtime/downstream.js';
import { RuntimeManager, type RuntimeTarget } from '../../src/runtime/runtime-manager.js';
import { type StartedFixture, startFixtureHttp } from '../fixtures/fixture-launch.js';
import { ManualClock } from '../support/clock.js';
import { waitFor } from '../support/processes.js';

/** The protocol features the SDK client carried, over the lean HTTP link to the real (SDK-based) fixture. */

const settings: RuntimeSettings = {
  healthIntervalMs: 600_000,
  idleTimeoutMs: 600_000,
  maxInstances: 20,
  maxResponseBytes: 4 * 1024 * 1024,
  restartBackoffMs: 100,
  restartBackoffMaxMs: 1000,
  circuitBreakerFailures: 5,
  circuitCooldownMs: 60_000,
  stopGraceMs: 2000,
  stderrLines: 50,
};

let server: StartedFixture;
let runtime: RuntimeManager;
const listings: Tool[][] = [];
let mcp: RuntimeTarget;

beforeAll(async () => {
  server = await startFixtureHttp('http');
  runtime = new RuntimeManager({
    settings,
    clock: new ManualClock(),
    log: pino({ level: 'silent' }),
    credentials: { credentialsFor: async () => ({}) },
    onListing: async (_spec, listing) => {
      listings.push(listing.tools);
    },
  });
  mcp = {
    mcpId: 'mcp_httpLinkTest1',
    slug: 'hl',
    versionId: 'mcv_httpLinkTest1',
    config: McpConfig.parse({
      connection: { transport: 'streamable-http', url: server.url },
      timeouts: { connectMs: 20_000, callMs: 20_000 },
    }),
  };
});

afterAll(async () => {
  await runtime.shutdown();
  await server.close();
});

const textOf = (result: { content: unknown }) =>
  (result.content as { type: string; text?: string }[]).map((block) => block.text ?? '').join('');

describe('lean HTTP link to a Streamable HTTP server', () => {
  it('relays progress, elicitation, cancellation and list_changed', async () => {
    const instance = runtime.instanceFor(mcp, null);
    const seen: number[] = [];
    const done = await instance.callTool(
      'progress',
      { steps: 3 },
      { onProgress: ({ progress }) => seen.push(progress) },
    );
    expect(textOf(done)).toBe('done 3');
    expect(seen).toEqual([1, 2, 3]);

    const asked: ServerToClientRequest[] = [];
    const answer = await instance.callTool(
      'ask',
      { question: 'colour?' },
      {
        onServerRequest: async (request) => {
          asked.push(request);
          return { action: 'accept', content: { answer: 'blue' } };
        },
      },
    );
    expect(textOf(answer)).toBe('answer: blue');
    expect(asked.map((request) => request.method)).toEqual(['elicitation/create']);

    const controller = new AbortController();
    const sleeping = instance.callTool('sleep', { ms: 60_000 }, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort('user pressed stop');
    await expect(sleeping).rejects.toBeInstanceOf(DomainError);
    const cancellations = await waitFor(async () => {
      const list = JSON.parse(textOf(await instance.callTool('cancellations', {}))) as { reason: string }[];
      return list.length > 0 ? list : null;
    }, 'the fixture to observe the cancellation');
    expect(cancellations[0]?.reason).toContain('user pressed stop');

    // The fixture announces the change on its standing GET stream; pinning sees the new listing.
    await instance.callTool('set-description', { tool: 'echo', description: 'changed over http' });
    await waitFor(
      () => listings.at(-1)?.find((tool) => tool.name === 'echo')?.description === 'changed over http',
      'the re-listing after list_changed',
    );
    expect(textOf(await instance.callTool('echo', { message: 'after' }))).toBe('after');
  });
});
