import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  connectMcpClient,
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { waitFor } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { type: string; text?: string }[])
    .map((block) => block.text ?? '')
    .join('');

/** Tenants of one shared MCP instance: one user's burst must not starve another user. */
describe('a shared instance among its users', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let mcpId: string;
  const clients: Record<string, Client> = {};

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'shared',
      name: 'shared',
      config: {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000, callMs: 20_000 },
        limits: { maxConcurrentCalls: 2, maxInstances: 1 },
      },
      groupIds: [everyone],
    });
    mcpId = created.id;
    await admin.catalog.validate.mutate({ id: mcpId });
    await admin.catalog.discover.mutate({ id: mcpId });
    await admin.catalog.publish.mutate({ id: mcpId });
    for (const username of ['alice', 'bob']) {
      const { portal } = await createSignedInUser(gh, admin, username, PASSWORD);
      const made = await portal.clients.create.mutate({ name: `${username} agent`, kind: 'agent' });
      await portal.subscriptions.create.mutate({ clientId: made.client.id, mcpId });
      clients[username] = await connectMcpClient(gh, made.key);
    }
  });

  afterAll(async () => {
    await Promise.all(Object.values(clients).map((client) => client.close().catch(() => undefined)));
    await gh.stop();
  });

  it("gives another user the next free slot while one user's burst holds every slot and fills its queue", async () => {
    const alice = clients.alice as Client;
    const bob = clients.bob as Client;
    await alice.callTool({ name: 'shared__echo', arguments: { message: 'warm' } });

    const finished: string[] = [];
    // Alice's burst: 2 run, 2 wait (her share of the queue), the rest are refused. Her calls take 3 s, a wide
    // margin for Bob's echo to finish before her waiting calls can.
    const burst = Array.from({ length: 6 }, (_, index) =>
      alice.callTool({ name: 'shared__sleep', arguments: { ms: 3000 } }).then((result) => {
        if (!result.isError) finished.push(`alice-${index}`);
        return result;
      }),
    );
    await waitFor(() => {
      const [status] = gh.runtime.list(mcpId);
      return status?.inFlight === 2 && status.queued === 2;
    }, 'alice to hold both slots with two calls waiting');

    const bobCall = bob.callTool({ name: 'shared__echo', arguments: { message: 'bob got a slot' } });
    const bobResult = await bobCall;
    finished.push('bob');
    expect(bobResult.isError).toBeFalsy();
    expect(textOf(bobResult)).toBe('bob got a slot');

    const aliceResults = await Promise.all(burst);
    const refused = aliceResults.filter((result) => result.isError);
    expect(refused).toHaveLength(2);
    for (const result of refused) {
      expect(textOf(result)).toContain('is at its limit of 2 concurrent calls with 2 waiting');
    }
    // Bob was served at the first slot that freed, ahead of Alice's calls that had waited longer.
    expect(finished).toHaveLength(5);
    expect(finished.indexOf('bob')).toBeLessThan(3);
    expect(finished.slice(3).every((label) => label.startsWith('alice-'))).toBe(true);

    expect(gh.runtime.list(mcpId)[0]).toMatchObject({ inFlight: 0, queued: 0 });
  });
});
