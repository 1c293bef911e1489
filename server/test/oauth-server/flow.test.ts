import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { ManualClock } from '../support/clock.js';
import {
  auditRows,
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import {
  type CimdServer,
  cimdDocument,
  consentOverHttp,
  sessionCookieOf,
  startCimdServer,
  TestOAuthClient,
} from '../support/oauth.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const REDIRECT = 'http://127.0.0.1:33418/callback';

describe('MCP clients authorize through OAuth', () => {
  let gh: TestGatehouse;
  let cimd: CimdServer;
  let person: { id: string; portal: PortalClient };
  let mcpId = '';
  const clock = new ManualClock();

  /** Connects the SDK client with its provider; the first time, runs the consent over HTTP. */
  async function connect(provider: TestOAuthClient, path = '/mcp', consent = true): Promise<Client> {
    const url = new URL(`${gh.clientUrl}${path}`);
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
      return client;
    } catch (error) {
      if (!(error instanceof UnauthorizedError) || !consent || !provider.authorizationUrl) throw error;
    }
    const { redirect } = await consentOverHttp(provider.authorizationUrl, {
      portalUrl: gh.portalUrl,
      sessionCookie: sessionCookieOf(person.portal),
      subscriptions: (details) => details.mcps.map((mcp) => ({ mcpId: mcp.id, tools: ['echo'] })),
    });
    const code = redirect.searchParams.get('code');
    expect(code).toBeTruthy();
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
    await transport.finishAuth(code ?? '');
    const fresh = new Client({ name: 'oauth-test', version: '1.0.0' });
    await fresh.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    return fresh;
  }

  beforeAll(async () => {
    cimd = await startCimdServer();
    gh = await startTestGatehouse(cimd.env, { clock });
    const admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'fx',
      name: 'fx',
      config: {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      groupIds: [everyone],
    });
    await admin.catalog.validate.mutate({ id: created.id });
    await admin.catalog.discover.mutate({ id: created.id });
    await admin.catalog.publish.mutate({ id: created.id });
    mcpId = created.id;
    person = await createSignedInUser(gh, admin, 'olivia', PASSWORD);
  });

  afterAll(async () => {
    await gh?.stop();
    await cimd?.close();
  });

  it('registers with CIMD, gets a token, lists exactly the consented tools and calls one', async () => {
    const clientId = cimd.publish('/clients/one.json', cimdDocument(REDIRECT));
    const provider = new TestOAuthClient(REDIRECT, { clientMetadataUrl: clientId });
    const client = await connect(provider);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['fx__echo']);
    const answer = await client.callTool({ name: 'fx__echo', arguments: { message: 'hello' } });
    expect(answer.content).toEqual([{ type: 'text', text: 'hello' }]);
    await client.close();
    const calls = await auditRows(gh, 'tool.call');
    expect(calls.at(-1)?.actor_type).toBe('client');
    void mcpId;
  });
});
