import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboundRequest } from '../../src/oauth/safe-http.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  connectMcpClient,
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { descendantPids, waitFor } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const CLIENT_SECRET = `as-client-secret-${randomBytes(16).toString('hex')}`;
/** Access tokens live 40 s and are refreshed 32 s early: fresh for 8 s after each issue. */
const ACCESS_TOKEN_TTL = 40;
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

interface IssuedToken {
  jti: string;
  accountId: string;
}

/**
 * A real OAuth 2.1 authorization server (oidc-provider) with PKCE required, refresh tokens and revocation.
 * Its login and consent screens are replaced by a handler that signs in whoever the test says is at the
 * browser, and grants what was asked.
 */
async function startAuthorizationServer(redirectUri: string) {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'gatehouse',
        client_secret: CLIENT_SECRET,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    scopes: ['openid', 'offline_access'],
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      Interaction: 600,
      Grant: 3600,
      Session: 3600,
    },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomBytes(16).toString('hex')] },
  });
  const accessTokens: IssuedToken[] = [];
  const refreshTokens: IssuedToken[] = [];
  let refreshGrants = 0;
  provider.on('access_token.saved', (token: IssuedToken) => accessTokens.push(token));
  provider.on('refresh_token.saved', (token: IssuedToken) => refreshTokens.push(token));
  provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') refreshGrants++;
  });
  const state = { account: '' };
  const callback = provider.callback();
  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    const details = await provider.interactionDetails(req, res);
    const prompt = details.prompt as { name: string; details: Record<string, string[] | undefined> };
    if (prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: state.account } });
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: state.account, clientId: String(details.params.client_id) });
    if (!grant) throw new Error('grant vanished');
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    await provider.interactionFinished(
      req,
      res,
      { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true },
    );
  });
  return {
    issuer,
    state,
    accessTokens,
    refreshTokens,
    counts: () => ({ refreshGrants }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('downstream OAuth against a real authorization server', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let as: Awaited<ReturnType<typeof startAuthorizationServer>>;
  let mcpId: string;
  let childrenBefore: number[];
  const users: Record<string, { id: string; portal: PortalClient; mcp: Client }> = {};

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse({
      GATEHOUSE_OAUTH_ALLOW_HTTP: 'true',
      GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
      GATEHOUSE_OAUTH_REFRESH_MARGIN_SECONDS: '32',
    });
    as = await startAuthorizationServer(`${gh.portalUrl}/oauth/callback`);
    admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'oafx',
      name: 'OAuth fixture',
      groupIds: [everyone],
      config: {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        isolation: 'per-user',
        oauth: {
          issuer: as.issuer,
          clientId: 'gatehouse',
          scopes: ['openid', 'offline_access'],
          inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' },
        },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
    });
    mcpId = created.id;
    expect(await admin.catalog.validate.mutate({ id: mcpId })).toMatchObject({ status: 'valid' });
    await admin.catalog.discover.mutate({ id: mcpId });
    await admin.catalog.publish.mutate({ id: mcpId });
    await admin.oauth.setClientSecret.mutate({ mcpId, clientSecret: CLIENT_SECRET });
    for (const username of ['alice', 'bob']) {
      const { id, portal } = await createSignedInUser(gh, admin, username, PASSWORD);
      const { client, key } = await portal.clients.create.mutate({
        name: `${username} agent`,
        kind: 'agent',
      });
      await portal.subscriptions.create.mutate({ clientId: client.id, mcpId });
      users[username] = { id, portal, mcp: await connectMcpClient(gh, key, 'oauth-test') };
    }
  }, 60_000);

  afterAll(async () => {
    for (const user of Object.values(users)) await user.mcp.close().catch(() => undefined);
    await gh?.stop();
    await as?.close();
    await waitFor(
      () => descendantPids().every((pid) => childrenBefore.includes(pid)),
      'fixture processes to exit',
    );
  });

  const user = (name: string) => {
    const found = users[name];
    if (!found) throw new Error(`no user ${name}`);
    return found;
  };

  /** The browser at the provider: follows redirects (keeping the provider's cookies) up to our callback. */
  async function authorize(account: string, authorizationUrl: string): Promise<string> {
    as.state.account = account;
    const jar = new Map<string, string>();
    let url = authorizationUrl;
    for (let hop = 0; hop < 20; hop++) {
      if (url.startsWith(`${gh.portalUrl}/oauth/callback`)) return url;
      const response = await fetch(url, {
        redirect: 'manual',
        headers: { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') },
      });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair = ''] = cookie.split(';');
        const index = pair.indexOf('=');
        jar.set(pair.slice(0, index), pair.slice(index + 1));
      }
      const location = response.headers.get('location');
      if (!location) throw new Error(`the provider stopped at ${response.status}: ${await response.text()}`);
      url = new URL(location, url).toString();
    }
    throw new Error('too many redirects');
  }

  /** The browser arrives back at Gatehouse with whatever portal cookie it has; returns where it is sent. */
  async function callback(url: string, cookie: string): Promise<URL> {
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    expect(response.status).toBe(303);
    // The portal routes by hash: `/#/my/credentials?oauth=…` is read as that path and query.
    const location = response.headers.get('location') ?? '';
    expect(location.startsWith('/#/')).toBe(true);
    return new URL(location.slice(2), gh.portalUrl);
  }

  const whoami = async (name: string) => {
    const result = await user(name).mcp.callTool({ name: 'oafx__whoami', arguments: {} });
    const text = (result.content as { type: string; text: string }[])[0]?.text ?? '';
    return { isError: result.isError === true, text, ...(result.isError ? {} : JSON.parse(text)) };
  };

  const latestAccessToken = (userId: string) =>
    as.accessTokens.filter((t) => t.accountId === userId).at(-1)?.jti;

  it('before connecting, a call tells the user to connect in the portal', async () => {
    const result = await whoami('alice');
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/needs your account: open Connections in the Gatehouse portal/);
    expect(await user('alice').portal.oauth.connections.query()).toMatchObject({
      items: [{ mcpSlug: 'oafx', status: 'not_connected' }],
    });
  });

  it('connects with PKCE S256, and the user’s instance receives exactly their access token', async () => {
    const alice = user('alice');
    const { authorizationUrl } = await alice.portal.oauth.connect.mutate({ mcpId });
    const request = new URL(authorizationUrl);
    expect(request.origin).toBe(as.issuer);
    expect(request.searchParams.get('code_challenge_method')).toBe('S256');
    expect(request.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(request.searchParams.get('redirect_uri')).toBe(`${gh.portalUrl}/oauth/callback`);
    const back = await callback(await authorize(alice.id, authorizationUrl), alice.portal.state.cookie);
    expect(back.pathname).toBe('/my/credentials');
    expect(Object.fromEntries(back.searchParams)).toEqual({ oauth: 'connected', mcp: 'oafx' });

    const token = latestAccessToken(alice.id);
    expect(token).toBeDefined();
    const seen = await whoami('alice');
    expect(seen.credentialHash).toBe(sha256(token ?? ''));
    const [connection] = (await alice.portal.oauth.connections.query()).items;
    // What the provider granted, not what was asked for: it granted `openid` only.
    expect(connection).toMatchObject({ status: 'connected', scopes: ['openid'] });
    const audited = await auditRows(gh, 'oauth.connect');
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ actor_user_id: alice.id, target_id: mcpId, outcome: 'success' });
  });

  it('refuses a replayed state, a state completed by another session or by nobody, and an expired state', async () => {
    const alice = user('alice');
    const bob = user('bob');
    const refusedWith = async (url: string, cookie: string, reason: RegExp) => {
      const back = await callback(url, cookie);
      expect(back.searchParams.get('oauth')).toBe('error');
      expect(back.searchParams.get('reason')).toMatch(reason);
    };
    const tokensBefore = as.accessTokens.length;

    // Replay: the same callback twice.
    const first = await authorize(
      alice.id,
      (await alice.portal.oauth.connect.mutate({ mcpId })).authorizationUrl,
    );
    expect((await callback(first, alice.portal.state.cookie)).searchParams.get('oauth')).toBe('connected');
    await refusedWith(first, alice.portal.state.cookie, /state already used/);

    // Another browser: bob's session (or no session) completing alice's flow is refused, and spends it.
    const stolen = await authorize(
      alice.id,
      (await alice.portal.oauth.connect.mutate({ mcpId })).authorizationUrl,
    );
    await refusedWith(stolen, bob.portal.state.cookie, /another portal session/);
    await refusedWith(stolen, alice.portal.state.cookie, /state already used/);
    const anonymous = await authorize(
      alice.id,
      (await alice.portal.oauth.connect.mutate({ mcpId })).authorizationUrl,
    );
    await refusedWith(anonymous, '', /another portal session/);
    expect((await bob.portal.oauth.connections.query()).items[0]?.status).toBe('not_connected');

    // Expired: ten minutes pass between the start and the callback.
    const late = await authorize(
      alice.id,
      (await alice.portal.oauth.connect.mutate({ mcpId })).authorizationUrl,
    );
    await gh.db.query(
      "update oauth_state set expires_at = now() - interval '1 second' where used_at is null",
    );
    await refusedWith(late, alice.portal.state.cookie, /state expired/);

    // Only the first flow exchanged a code; the refused ones never reached the token endpoint.
    expect(as.accessTokens.length).toBe(tokensBefore + 1);
    const failures = await auditRows(gh, 'oauth.connect_failed');
    expect(failures.map((row) => row.reason)).toEqual([
      'state already used',
      'state was issued to another portal session',
      'state already used',
      'state was issued to another portal session',
      'state expired',
    ]);
    expect(failures.every((row) => row.outcome === 'denied')).toBe(true);
  });

  it('refreshes ahead of expiry once for concurrent calls, and the instance restarts with the new token', async () => {
    const alice = user('alice');
    const before = await whoami('alice');
    const { refreshGrants } = as.counts();
    await new Promise((resolve) => setTimeout(resolve, 8_500));
    const results = await Promise.all(Array.from({ length: 5 }, () => whoami('alice')));
    expect(as.counts().refreshGrants).toBe(refreshGrants + 1);
    const fresh = latestAccessToken(alice.id) ?? '';
    for (const result of results) expect(result.credentialHash).toBe(sha256(fresh));
    expect(results[0]?.pid).not.toBe(before.pid);
    expect(await auditRows(gh, 'oauth.refresh')).toHaveLength(1);
  }, 30_000);

  it('a revoked refresh token marks the connection "reconnect needed" and calls say so', async () => {
    const alice = user('alice');
    const refreshToken = as.refreshTokens.filter((t) => t.accountId === alice.id).at(-1)?.jti ?? '';
    const revoked = await fetch(`${as.issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`gatehouse:${CLIENT_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }),
    });
    expect(revoked.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 8_500));
    const result = await whoami('alice');
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/connect your account again: open Connections in the Gatehouse portal/);
    expect((await alice.portal.oauth.connections.query()).items[0]?.status).toBe('reconnect_needed');
    expect(await auditRows(gh, 'oauth.refresh_failed')).toMatchObject([
      { outcome: 'failure', reason: 'refresh refused (invalid_grant)' },
    ]);

    // Connecting again recovers.
    const again = await authorize(
      alice.id,
      (await alice.portal.oauth.connect.mutate({ mcpId })).authorizationUrl,
    );
    expect((await callback(again, alice.portal.state.cookie)).searchParams.get('oauth')).toBe('connected');
    expect((await whoami('alice')).credentialHash).toBe(sha256(latestAccessToken(alice.id) ?? ''));
  }, 30_000);

  it('disconnecting revokes at the provider and forgets the tokens', async () => {
    const bob = user('bob');
    const flow = await authorize(bob.id, (await bob.portal.oauth.connect.mutate({ mcpId })).authorizationUrl);
    expect((await callback(flow, bob.portal.state.cookie)).searchParams.get('oauth')).toBe('connected');
    expect((await whoami('bob')).credentialHash).toBe(sha256(latestAccessToken(bob.id) ?? ''));
    const refreshToken = as.refreshTokens.filter((t) => t.accountId === bob.id).at(-1)?.jti ?? '';
    expect(await bob.portal.oauth.disconnect.mutate({ mcpId })).toEqual({ revokedAtProvider: true });
    // The provider no longer honours the refresh token.
    const reuse = await fetch(`${as.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`gatehouse:${CLIENT_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await bob.portal.oauth.connections.query()).items[0]?.status).toBe('not_connected');
    const rows = await gh.db.query(
      "select field from vault_credential where owner = $1 and field like 'oauth:%'",
      [bob.id],
    );
    expect(rows).toEqual([]);
    expect((await whoami('bob')).text).toMatch(/needs your account/);
  });

  it('never lets a token, code, verifier or client secret reach logs, audit records or API answers', async () => {
    const secrets = [
      CLIENT_SECRET,
      ...as.accessTokens.map((token) => token.jti),
      ...as.refreshTokens.map((token) => token.jti),
    ];
    const audit = JSON.stringify(await gh.db.query('select * from audit_event'));
    const logs = gh.logs.join('\n');
    const connections = JSON.stringify(await user('alice').portal.oauth.connections.query());
    const owners = JSON.stringify(await admin.credentials.owners.query({ mcpId }));
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(20);
      for (const haystack of [audit, logs, connections, owners]) expect(haystack).not.toContain(secret);
    }
  });
});

describe('outbound requests to OAuth endpoints', () => {
  it('refuse plain http, private and loopback addresses, and user info unless allowed', async () => {
    const strict = { allowHttp: false, allowPrivateNetworks: false };
    await expect(outboundRequest(strict, 'http://example.com/x', { method: 'GET' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('not an https URL'),
    });
    for (const url of [
      'https://127.0.0.1/x',
      'https://10.1.2.3/x',
      'https://[::1]/x',
      'https://169.254.169.254/x',
    ]) {
      await expect(outboundRequest(strict, url, { method: 'GET' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining('private address'),
      });
    }
    // A name that resolves to loopback is refused at connect time, whatever the URL says.
    await expect(outboundRequest(strict, 'https://localhost/x', { method: 'GET' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('private address'),
    });
    await expect(
      outboundRequest(strict, 'https://user:pw@example.com/x', { method: 'GET' }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });
});
