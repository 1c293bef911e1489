import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_TOOL_NAMES, fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  connectMcpClient,
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { descendantPids } from '../support/processes.js';

/** The outcome of a call as the client sees it: served, or the refusal's message. */
const outcomeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'served',
    (error: Error) => error.message.replace(/^(MCP error -?\d+: )+/, ''),
  );

/** Through `/mcp` with a real client: what `tools/list` shows is exactly what `tools/call` serves. */
describe('tools/list and tools/call agree through /mcp', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let mcpId: string;
  let client: Client;
  let childrenBefore: number[];

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'agree',
      name: 'Agree',
      config: {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      groupIds: [everyone],
    });
    mcpId = created.id;
    await admin.catalog.validate.mutate({ id: mcpId });
    await admin.catalog.discover.mutate({ id: mcpId });
    await admin.catalog.publish.mutate({ id: mcpId });
    const { portal } = await createSignedInUser(gh, admin, 'agreeable', 'Plenty-long-passphrase-9');
    const agent = await portal.clients.create.mutate({ name: 'agent', kind: 'agent' });
    await portal.subscriptions.create.mutate({ clientId: agent.client.id, mcpId, tools: ['echo', 'whoami'] });
    client = await connectMcpClient(gh, agent.key);
  });
  afterAll(async () => {
    await client.close();
    await gh.stop();
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  const listed = async () => (await client.listTools()).tools.map((tool) => tool.name).sort();
  const callEach = async (names: readonly string[]) => {
    const outcomes: Record<string, string> = {};
    // Only harmless tools are called for real; the others must be refused before reaching the downstream.
    for (const name of names)
      outcomes[name] = await outcomeOf(client.callTool({ name, arguments: { message: 'm' } }));
    return outcomes;
  };

  it('serves exactly the selected tools, refuses every other name, and a kill switch hides and refuses alike', async () => {
    expect(await listed()).toEqual(['agree__echo', 'agree__whoami']);
    const unselected = FIXTURE_TOOL_NAMES.filter((tool) => tool !== 'echo' && tool !== 'whoami').map(
      (tool) => `agree__${tool}`,
    );
    const deniedBefore = (await auditRows(gh, 'tool.denied')).length;
    expect(await callEach(['agree__echo', 'agree__whoami'])).toEqual({
      agree__echo: 'served',
      agree__whoami: 'served',
    });
    const refused = await callEach([...unselected, 'agree__nothing', 'other__echo']);
    for (const [name, outcome] of Object.entries(refused))
      expect(outcome, name).toBe(`Unknown tool: ${name}`);
    // Every refusal is audited with the precise reason, and none reached the downstream.
    const denials = (await auditRows(gh, 'tool.denied')).slice(deniedBefore);
    expect(denials.map((row) => row.reason)).toEqual([
      ...unselected.map(() => 'tool not selected'),
      'no such tool',
      'not subscribed',
    ]);
    const served = (await auditRows(gh, 'tool.call')).map((row) => row.details.tool);
    expect(served.sort()).toEqual(['echo', 'whoami']);

    await admin.killSwitches.engage.mutate({ targetType: 'mcp', targetId: mcpId, reason: 'incident' });
    expect(await listed()).toEqual([]);
    expect(await callEach(['agree__echo'])).toEqual({
      agree__echo: 'Tool call refused: mcp killed by an admin',
    });
    expect(gh.runtime.list(mcpId)).toEqual([]);

    await admin.killSwitches.release.mutate({ targetType: 'mcp', targetId: mcpId });
    expect(await listed()).toEqual(['agree__echo', 'agree__whoami']);
    expect(await callEach(['agree__echo'])).toEqual({ agree__echo: 'served' });
  });
});
