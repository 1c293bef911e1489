import type { McpConfigInput } from '@gatehouse/schema';
import { createGatehouseClient, type GatehouseClient } from '@gatehouse/sdk';

const PASSWORD = 'Load-generator-passphrase-7';

/** A tRPC call over plain fetch, for the steps that need a portal session (setup, login). */
async function portalCall(
  portalUrl: string,
  procedure: string,
  input: unknown,
  session?: { cookie: string; csrf: string },
) {
  const response = await fetch(`${portalUrl}/trpc/${procedure}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      origin: portalUrl,
      'x-gatehouse-csrf': session?.csrf ?? 'setup',
      ...(session && { cookie: session.cookie }),
    },
    body: JSON.stringify(input),
  });
  if (!response.ok) throw new Error(`${procedure} failed: ${response.status} ${await response.text()}`);
  const body = ((await response.json()) as { result: { data: Record<string, unknown> } }).result.data;
  const cookie = response.headers.getSetCookie()[0]?.split(';')[0] ?? session?.cookie ?? '';
  return { body, session: { cookie, csrf: String(body.csrfToken ?? session?.csrf ?? '') } };
}

/** An SDK client for a signed-in user: a portal session that mints an API token. */
async function tokenClient(portalUrl: string, session: { cookie: string; csrf: string }) {
  const created = await portalCall(portalUrl, 'apiTokens.create', { name: 'bench' }, session);
  const token = String(created.body.token);
  return { token, sdk: createGatehouseClient({ url: portalUrl, token }) };
}

export interface ClientKey {
  key: string;
  clientId: string;
}

export interface Provisioner {
  admin: GatehouseClient;
  /** The admin's API token, for the GraphQL explorer. */
  adminToken: string;
  everyoneGroupId: string;
  /** Creates, validates, discovers and publishes an MCP granted to everyone; returns its id. */
  publish(slug: string, config: McpConfigInput): Promise<string>;
  /** One client key per simulated client of the signed-in admin, subscribed to `mcpIds`. */
  clientKeys(count: number, mcpIds: string[], tools?: string[]): Promise<ClientKey[]>;
  /** A new user with one client key subscribed to `mcpId`, for per-user instances. */
  userWithKey(username: string, mcpId: string): Promise<string>;
}

export async function provision(portalUrl: string): Promise<Provisioner> {
  const setup = await portalCall(portalUrl, 'setup.createFirstAdmin', {
    username: 'bench-admin',
    displayName: 'Bench admin',
    email: 'bench@example.test',
    password: PASSWORD,
  });
  const { token: adminToken, sdk: admin } = await tokenClient(portalUrl, setup.session);
  const everyoneGroupId = (await admin.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
  const keysFor = async (sdk: GatehouseClient, count: number, mcpIds: string[], tools?: string[]) => {
    const keys: ClientKey[] = [];
    for (let i = 0; i < count; i++) {
      const created = await sdk.clients.create.mutate({ name: `bench client ${i}`, kind: 'agent' });
      for (const mcpId of mcpIds) {
        await sdk.subscriptions.create.mutate({
          clientId: created.client.id,
          mcpId,
          ...(tools && { tools }),
        });
      }
      keys.push({ key: created.key, clientId: created.client.id });
    }
    return keys;
  };
  return {
    admin,
    adminToken,
    everyoneGroupId,
    async publish(slug, config) {
      const mcp = await admin.catalog.create.mutate({
        slug,
        name: `Benchmark ${slug}`,
        config,
        groupIds: [everyoneGroupId],
      });
      await admin.catalog.validate.mutate({ id: mcp.id });
      await admin.catalog.discover.mutate({ id: mcp.id });
      await admin.catalog.publish.mutate({ id: mcp.id });
      return mcp.id;
    },
    clientKeys: (count, mcpIds, tools) => keysFor(admin, count, mcpIds, tools),
    async userWithKey(username, mcpId) {
      await admin.users.create.mutate({
        username,
        displayName: username,
        email: `${username}@example.test`,
        password: PASSWORD,
      });
      // Users cannot mint API tokens; their portal session registers the client, as in the portal.
      const { session } = await portalCall(portalUrl, 'auth.login', { username, password: PASSWORD });
      const created = await portalCall(
        portalUrl,
        'clients.create',
        { name: 'bench', kind: 'agent' },
        session,
      );
      const client = created.body.client as { id: string };
      await portalCall(portalUrl, 'subscriptions.create', { clientId: client.id, mcpId }, session);
      return String(created.body.key);
    },
  };
}
