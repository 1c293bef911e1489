import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { ManualClock } from '../support/clock.js';
import {
  auditRows,
  createSignedInUser,
  failureOf,
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
const ACCESS_TTL_MS = 15 * 60_000;

/**
 * The MCP SDK's own OAuth client support against Gatehouse (ADR 0033, ADR 0034): discovery from the 401,
 * registration by CIMD and by DCR, consent over HTTP with a portal session, tokens bound to one endpoint,
 * refresh with rotation and reuse detection, revocation.
 */
describe('MCP clients authorize through OAuth', () => {
  let gh: TestGatehouse;
  let cimd: CimdServer;
  let person: { id: string; portal: PortalClient };
  const clock = new ManualClock();

  /** Connects the SDK client with its provider; when it must authorize, consents over HTTP first. */
  async function connect(
    provider: TestOAuthClient,
    path = '/mcp',
    tools: string[] | null = ['echo'],
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const url = new URL(`${gh.clientUrl}${path}`);
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    try {
      await client.connect(first);
      return { client, transport: first };
    } catch (error) {
      if (!(error instanceof UnauthorizedError) || !provider.authorizationUrl) throw error;
    }
    const { redirect } = await consentOverHttp(provider.authorizationUrl, {
      portalUrl: gh.portalUrl,
      sessionCookie: sessionCookieOf(person.portal),
      subscriptions: (details) => details.mcps.map((mcp) => ({ mcpId: mcp.id, tools })),
    });
    await first.finishAuth(redirect.searchParams.get('code') ?? '');
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
    const fresh = new Client({ name: 'oauth-test', version: '1.0.0' });
    await fresh.connect(transport);
    return { client: fresh, transport };
  }

  const mcpStatus = async (path: string, token: string) => {
    const answer = await fetch(`${gh.clientUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    await answer.text();
    return { status: answer.status, challenge: answer.headers.get('www-authenticate') ?? '' };
  };

  const refresh = (refreshToken: string, clientId: string) =>
    fetch(`${gh.portalUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: clientId,
      }),
    });

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
    person = await createSignedInUser(gh, admin, 'olivia', PASSWORD);
  });

  afterAll(async () => {
    await gh?.stop();
    await cimd?.close();
  });

  it('publishes protected resource and authorization server metadata, and points every 401 at it', async () => {
    const mcp = `${gh.clientUrl}/mcp`;
    for (const [path, resource] of [
      ['/.well-known/oauth-protected-resource', mcp],
      ['/.well-known/oauth-protected-resource/mcp', mcp],
      ['/.well-known/oauth-protected-resource/mcp/fx', `${mcp}/fx`],
    ] as const) {
      const answer = await fetch(`${gh.clientUrl}${path}`);
      expect(answer.status, path).toBe(200);
      expect(await answer.json()).toEqual({
        resource,
        authorization_servers: [gh.portalUrl],
        scopes_supported: ['mcp'],
        bearer_methods_supported: ['header'],
        resource_name: 'Gatehouse',
      });
    }
    expect((await fetch(`${gh.clientUrl}/.well-known/oauth-protected-resource/mcp/nope`)).status).toBe(404);

    const anonymous = await fetch(mcp, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${gh.clientUrl}/.well-known/oauth-protected-resource/mcp"`,
    );
    expect((await mcpStatus('/mcp/fx', 'not-a-token')).challenge).toBe(
      `Bearer resource_metadata="${gh.clientUrl}/.well-known/oauth-protected-resource/mcp/fx", error="invalid_token"`,
    );

    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const metadata = (await (await fetch(`${gh.portalUrl}${path}`)).json()) as Record<string, unknown>;
      expect(metadata, path).toMatchObject({
        issuer: gh.portalUrl,
        authorization_endpoint: `${gh.portalUrl}/oauth/authorize`,
        token_endpoint: `${gh.portalUrl}/oauth/token`,
        registration_endpoint: `${gh.portalUrl}/oauth/register`,
        revocation_endpoint: `${gh.portalUrl}/oauth/revoke`,
        code_challenge_methods_supported: ['S256'],
        client_id_metadata_document_supported: true,
        response_types_supported: ['code'],
      });
      expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
      expect(metadata.grant_types_supported).toEqual(['authorization_code', 'refresh_token']);
    }
  });

  it('CIMD: discovers from the 401, consents, lists exactly the consented tools, calls one; refresh keeps the session', async () => {
    const clientId = cimd.publish('/clients/one.json', cimdDocument(REDIRECT, { client_name: 'Editor One' }));
    const provider = new TestOAuthClient(REDIRECT, { clientMetadataUrl: clientId });
    const { client, transport } = await connect(provider);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['fx__echo']);
    expect(await client.callTool({ name: 'fx__echo', arguments: { message: 'hello' } })).toMatchObject({
      content: [{ type: 'text', text: 'hello' }],
    });

    // The Gatehouse client made by consent: the person's, with no key, known by its OAuth client id.
    const mine = (await person.portal.clients.list.query()).items;
    expect(mine).toEqual([
      expect.objectContaining({
        name: 'Editor One',
        keyPrefix: null,
        oauthClientId: clientId,
        registration: 'cimd',
        domain: new URL(clientId).host,
        status: 'active',
      }),
    ]);
    const call = (await auditRows(gh, 'tool.call')).at(-1);
    expect(call).toMatchObject({
      actor_type: 'client',
      actor_user_id: person.id,
      actor_client_id: mine[0]?.id,
    });
    // An OAuth client has no key to rotate.
    expect(await failureOf(person.portal.clients.rotateKey.mutate({ id: mine[0]?.id ?? '' }))).toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    const [granted] = await auditRows(gh, 'oauth.consent_granted');
    expect(granted?.details).toMatchObject({ oauthClientId: clientId, registration: 'cimd', created: true });
    const [issued] = await auditRows(gh, 'oauth.token_issued');
    expect(issued).toMatchObject({ actor_type: 'client', actor_user_id: person.id });
    expect(issued?.details).toMatchObject({ oauthClientId: clientId, resource: `${gh.clientUrl}/mcp` });
    // Never a token value in the audit trail.
    const tokens = provider.tokens();
    const trail = JSON.stringify(await auditRows(gh));
    expect(trail).not.toContain(tokens?.access_token ?? '-');
    expect(trail).not.toContain(tokens?.refresh_token ?? '-');
    // Only hashes of ids are stored.
    const stored = JSON.stringify(await gh.db.query('select * from oauth_server_record'));
    expect(stored).not.toContain(tokens?.access_token ?? '-');
    expect(stored).not.toContain(tokens?.refresh_token ?? '-');

    // Bound to /mcp: refused on /mcp/<slug>.
    expect(await mcpStatus('/mcp/fx', tokens?.access_token ?? '')).toMatchObject({ status: 401 });

    // The access token expires (Gatehouse's clock); the SDK refreshes on the 401 and the session goes on.
    const sessionId = transport.sessionId;
    const before = provider.tokens();
    clock.advance(ACCESS_TTL_MS + 60_000);
    expect((await mcpStatus('/mcp', before?.access_token ?? '')).status).toBe(401);
    expect(await client.callTool({ name: 'fx__echo', arguments: { message: 'again' } })).toMatchObject({
      content: [{ type: 'text', text: 'again' }],
    });
    expect(transport.sessionId).toBe(sessionId);
    const after = provider.tokens();
    expect(after?.access_token).not.toBe(before?.access_token);
    expect(after?.refresh_token).not.toBe(before?.refresh_token);
    expect(await auditRows(gh, 'oauth.token_refreshed')).toHaveLength(1);

    // Reusing the rotated refresh token: invalid_grant, and the whole family is revoked.
    const reused = await refresh(before?.refresh_token ?? '', clientId);
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await mcpStatus('/mcp', after?.access_token ?? '')).status).toBe(401);
    expect((await refresh(after?.refresh_token ?? '', clientId)).status).toBe(400);
    const [reuse] = await auditRows(gh, 'oauth.refresh_reuse_detected');
    expect(reuse).toMatchObject({ outcome: 'denied', actor_type: 'client', actor_user_id: person.id });
    await client.close().catch(() => undefined);
  });

  it('a second authorization of the same client shows the current selection and reuses its Gatehouse client', async () => {
    const clientId = `${cimd.origin}/clients/one.json`;
    const [existing] = (await person.portal.clients.list.query()).items.filter(
      (c) => c.oauthClientId === clientId,
    );
    const provider = new TestOAuthClient(REDIRECT, { clientMetadataUrl: clientId });
    const first = new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp`), {
      authProvider: provider,
    });
    await expect(new Client({ name: 'again', version: '1' }).connect(first)).rejects.toThrow(
      UnauthorizedError,
    );
    const { redirect, details } = await consentOverHttp(provider.authorizationUrl ?? '', {
      portalUrl: gh.portalUrl,
      sessionCookie: sessionCookieOf(person.portal),
      subscriptions: (shown) => shown.mcps.map((mcp) => ({ mcpId: mcp.id, tools: null })),
    });
    expect(details.client).toMatchObject({
      clientId,
      name: 'Editor One',
      registration: 'cimd',
      domain: new URL(clientId).host,
      redirectUri: REDIRECT,
      localhostOnly: true,
    });
    expect(details.existingClient).toEqual({ id: existing?.id, name: 'Editor One' });
    expect(details.mcps).toEqual([
      expect.objectContaining({ slug: 'fx', subscribed: true, selectedTools: ['echo'] }),
    ]);
    expect(redirect.searchParams.get('code')).toBeTruthy();
    const after = (await person.portal.clients.list.query()).items.filter(
      (c) => c.oauthClientId === clientId,
    );
    expect(after.map((c) => c.id)).toEqual([existing?.id]);
    const subscriptions = await person.portal.subscriptions.list.query({ id: existing?.id ?? '' });
    expect(subscriptions.items.map((sub) => sub.tools)).toEqual([null]);
    expect((await auditRows(gh, 'oauth.consent_granted')).at(-1)?.details).toMatchObject({ created: false });
  });

  it('DCR: registers as the fallback, and a token for /mcp/<slug> is refused on /mcp and the other way round', async () => {
    const provider = new TestOAuthClient(REDIRECT, { name: 'Loopback DCR' });
    const { client } = await connect(provider, '/mcp/fx', null);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('echo');
    const registered = (await auditRows(gh, 'oauth.client_registered')).at(-1);
    expect(registered?.details).toMatchObject({
      clientName: 'Loopback DCR',
      redirectHosts: ['127.0.0.1:33418'],
    });
    const info = provider.clientInformation();
    const row = (await person.portal.clients.list.query()).items.find(
      (c) => c.oauthClientId === info?.client_id,
    );
    expect(row).toMatchObject({ registration: 'dcr', domain: '127.0.0.1:33418' });
    const slugToken = provider.tokens()?.access_token ?? '';
    expect(await mcpStatus('/mcp', slugToken)).toMatchObject({ status: 401 });
    expect((await mcpStatus('/mcp/fx', slugToken)).status).toBe(200);
    await client.close();
  });

  it('RFC 7009 revocation ends the token and its whole family at once', async () => {
    const clientId = cimd.publish('/clients/two.json', cimdDocument(REDIRECT, { client_name: 'Editor Two' }));
    const provider = new TestOAuthClient(REDIRECT, { clientMetadataUrl: clientId });
    const { client } = await connect(provider);
    await client.listTools();
    const tokens = provider.tokens();
    const revoked = await fetch(`${gh.portalUrl}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens?.access_token ?? '', client_id: clientId }),
    });
    expect(revoked.status).toBe(200);
    const refused = await mcpStatus('/mcp', tokens?.access_token ?? '');
    expect(refused.status).toBe(401);
    expect(refused.challenge).toContain('error="invalid_token"');
    // oidc-provider revokes every token of the grant with it (RFC 7009 §2.1 allows it): no refresh either.
    expect((await refresh(tokens?.refresh_token ?? '', clientId)).status).toBe(400);
    expect((await auditRows(gh, 'oauth.token_revoked')).at(-1)?.details).toMatchObject({
      oauthClientId: clientId,
      tokenType: 'access_token',
    });
    await client.close().catch(() => undefined);
  });

  it('revoking the client in My clients revokes its grant in the same transaction: the next call is 401', async () => {
    const clientId = cimd.publish(
      '/clients/three.json',
      cimdDocument(REDIRECT, { client_name: 'Editor Three' }),
    );
    const provider = new TestOAuthClient(REDIRECT, { clientMetadataUrl: clientId });
    const { client } = await connect(provider);
    await client.listTools();
    const tokens = provider.tokens();
    const row = (await person.portal.clients.list.query()).items.find((c) => c.oauthClientId === clientId);
    await person.portal.clients.revoke.mutate({ id: row?.id ?? '' });
    await expect(client.listTools()).rejects.toThrow();
    const refused = await mcpStatus('/mcp', tokens?.access_token ?? '');
    expect(refused.status).toBe(401);
    expect(refused.challenge).toContain('resource_metadata=');
    expect((await refresh(tokens?.refresh_token ?? '', clientId)).status).toBe(400);
    expect(
      await gh.db.query(`select 1 from oauth_server_record where payload->>'clientId' = $1`, [clientId]),
    ).toEqual([]);
    expect((await auditRows(gh, 'oauth.consent_revoked')).at(-1)?.details).toMatchObject({
      oauthClientId: clientId,
      grantsRevoked: 1,
    });
    await client.close().catch(() => undefined);
  });
});
