import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
  CookieJar,
  cimdDocument,
  consentOverHttp,
  navigate,
  sessionCookieOf,
  startCimdServer,
} from '../support/oauth.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const REDIRECT = 'http://127.0.0.1:33418/callback';

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/**
 * What the authorization server refuses (ADR 0033, ADR 0034): each refusal answers with the right error and
 * issues nothing (no code, token, grant, client or Gatehouse client; the audit trail as expected).
 */
describe('the authorization server refuses', () => {
  let gh: TestGatehouse;
  let cimd: CimdServer;
  let person: { id: string; portal: PortalClient };
  let dcrClientId = '';
  let mcpId = '';
  let admin: PortalClient;
  const clock = new ManualClock();

  /** Rows that would show something was issued, by model, and the Gatehouse clients. */
  const issued = async () => {
    const rows = await gh.db.query<{ model: string; n: string }>(
      `select model, count(*) as n from oauth_server_record
       where model in ('AuthorizationCode', 'AccessToken', 'RefreshToken', 'Grant', 'Client') group by model`,
    );
    const clients = await gh.db.query<{ n: string }>('select count(*) as n from mcp_client');
    return { records: Object.fromEntries(rows.map((r) => [r.model, Number(r.n)])), clients: clients[0]?.n };
  };

  const authorizeUrl = (params: Record<string, string | undefined>) => {
    const url = new URL(`${gh.portalUrl}/oauth/authorize`);
    const defaults = {
      response_type: 'code',
      client_id: dcrClientId,
      redirect_uri: REDIRECT,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      scope: 'mcp',
      resource: `${gh.clientUrl}/mcp`,
      state: 'st4te',
    };
    for (const [key, value] of Object.entries({ ...defaults, ...params })) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    return url.toString();
  };

  const register = (metadata: Record<string, unknown>) =>
    fetch(`${gh.portalUrl}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        client_name: 'Refusals DCR',
        ...metadata,
      }),
    });

  /** A token pair for the DCR client, bound to `resource`, through consent and the code exchange. */
  const tokensFor = async (resource: string): Promise<{ access_token: string }> => {
    const { verifier, challenge } = pkce();
    const { redirect } = await consentOverHttp(authorizeUrl({ code_challenge: challenge, resource }), {
      portalUrl: gh.portalUrl,
      sessionCookie: sessionCookieOf(person.portal),
    });
    const answer = await fetch(`${gh.portalUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: redirect.searchParams.get('code') ?? '',
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: dcrClientId,
        resource,
      }),
    });
    expect(answer.status).toBe(200);
    return (await answer.json()) as { access_token: string };
  };

  const initialize = async (path: string, token: string) => {
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

  beforeAll(async () => {
    cimd = await startCimdServer();
    gh = await startTestGatehouse(cimd.env, { clock });
    admin = await setUpAdmin(gh);
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
    person = await createSignedInUser(gh, admin, 'rhea', PASSWORD);
    const registered = await register({});
    expect(registered.status).toBe(201);
    dcrClientId = ((await registered.json()) as { client_id: string }).client_id;
  });

  afterAll(async () => {
    await gh?.stop();
    await cimd?.close();
  });

  it('redirect URIs not registered (open redirect, another host or path): 400 and no redirect at all', async () => {
    const before = await issued();
    for (const redirect of [
      'https://evil.example/callback',
      'http://127.0.0.1:33418/other',
      'http://127.0.0.1.evil.example:33418/callback',
      'http://10.0.0.1:33418/callback',
    ]) {
      const { response, location } = await navigate(
        new CookieJar(),
        authorizeUrl({ redirect_uri: redirect }),
      );
      expect(response.status, redirect).toBe(400);
      expect(location, redirect).toBeNull();
      expect(await response.json(), redirect).toMatchObject({ error: 'invalid_redirect_uri' });
    }
    // RFC 8252: a loopback redirect URI may come back on another port; it still leads to consent only.
    const other = await navigate(
      new CookieJar(),
      authorizeUrl({ redirect_uri: 'http://127.0.0.1:5555/callback' }),
    );
    expect(other.location).toContain('/oauth/interaction/');
    expect(await issued()).toEqual(before);
  });

  it('registration of anything but a public client with https or loopback redirect URIs', async () => {
    const before = await issued();
    const registrations = (await auditRows(gh, 'oauth.client_registered')).length;
    for (const [metadata, error] of [
      [{ redirect_uris: ['http://app.example/callback'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['myapp://callback'] }, 'invalid_redirect_uri'],
      [
        { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example/${i}`) },
        'invalid_client_metadata',
      ],
      [{ token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
      [{ client_name: 'x'.repeat(500) }, 'invalid_client_metadata'],
    ] as const) {
      const answer = await register(metadata);
      expect(answer.status, JSON.stringify(metadata).slice(0, 80)).toBe(400);
      expect(await answer.json()).toMatchObject({ error });
    }
    expect(await issued()).toEqual(before);
    expect(await auditRows(gh, 'oauth.client_registered')).toHaveLength(registrations);
  });

  it('PKCE missing or plain, and a resource that is not this Gatehouse: the error goes back to the client', async () => {
    const before = await issued();
    for (const [params, error] of [
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, 'invalid_request'],
      [{ resource: 'https://other.example/mcp' }, 'invalid_target'],
      [{ resource: `${gh.clientUrl}/mcp/no-such-mcp` }, 'invalid_target'],
    ] as const) {
      const { location } = await navigate(new CookieJar(), authorizeUrl(params));
      const back = new URL(location ?? 'http://none');
      expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
      expect(back.searchParams.get('error'), JSON.stringify(params)).toBe(error);
      expect(back.searchParams.get('code')).toBeNull();
    }
    expect(await issued()).toEqual(before);
  });

  it('a CIMD document whose client_id is not its own URL', async () => {
    const before = await issued();
    const url = cimd.publish('/clients/liar.json', (own) => cimdDocument(REDIRECT)(`${own}.other`));
    const { response, location } = await navigate(new CookieJar(), authorizeUrl({ client_id: url }));
    expect(response.status).toBe(400);
    expect(location).toBeNull();
    expect(await response.json()).toMatchObject({ error: 'invalid_client_metadata' });
    expect(cimd.fetches.get('/clients/liar.json')).toBeGreaterThanOrEqual(1);
    expect(await issued()).toEqual(before);
  });

  it('a CIMD document on a private address, unless the operator allows private networks', async () => {
    const strict = await startTestGatehouse({
      GATEHOUSE_OAUTH_CA_FILE: cimd.env.GATEHOUSE_OAUTH_CA_FILE ?? '',
    });
    try {
      const url = cimd.publish('/clients/private.json', cimdDocument(REDIRECT));
      const target = new URL(`${strict.portalUrl}/oauth/authorize`);
      for (const [key, value] of Object.entries({
        response_type: 'code',
        client_id: url,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        scope: 'mcp',
      })) {
        target.searchParams.set(key, value);
      }
      const { response, location } = await navigate(new CookieJar(), target.toString());
      expect(response.status).toBe(400);
      expect(location).toBeNull();
      expect(await response.json()).toMatchObject({ error: 'invalid_client' });
      // Refused before connecting: the document's server was never contacted.
      expect(cimd.fetches.get('/clients/private.json')).toBeUndefined();
      expect(
        await strict.db.query('select 1 from oauth_server_record where model <> $1', ['Session']),
      ).toEqual([]);
    } finally {
      await strict.stop();
    }
  });

  it('consent without a portal session, or from another origin; declining sends access_denied', async () => {
    const before = await issued();
    const jar = new CookieJar();
    const start = await navigate(jar, authorizeUrl({}));
    const uid = start.location?.split('/oauth/interaction/')[1] ?? '';
    const interaction = `${gh.portalUrl}/oauth/interaction/${uid}`;
    expect((await navigate(jar, interaction)).location).toBe(`${gh.portalUrl}/#/consent/${uid}`);
    const body = JSON.stringify({ subscriptions: [{ mcpId, tools: null }] });
    const post = (path: string, cookie: string, origin: string) =>
      fetch(`${interaction}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin, cookie },
        body,
      });
    const signedOut = await post('confirm', jar.header(interaction), gh.portalUrl);
    expect(signedOut.status).toBe(401);
    expect(await signedOut.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    expect(
      (await fetch(`${interaction}/details`, { headers: { cookie: jar.header(interaction) } })).status,
    ).toBe(401);
    const withSession = `${jar.header(interaction)}; ${sessionCookieOf(person.portal)}`;
    const crossOrigin = await post('confirm', withSession, 'https://evil.example');
    expect(crossOrigin.status).toBe(403);
    expect(await crossOrigin.json()).toMatchObject({ error: { code: 'CSRF_REJECTED' } });
    expect((await post('deny', withSession, 'https://evil.example')).status).toBe(403);
    // Another browser (no interaction cookie) cannot finish this interaction, even signed in.
    const stolen = await post('confirm', sessionCookieOf(person.portal), gh.portalUrl);
    expect(stolen.status).toBe(404);
    // A tool the MCP does not offer: refused, nothing created.
    const badTool = await fetch(`${interaction}/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: gh.portalUrl, cookie: withSession },
      body: JSON.stringify({ subscriptions: [{ mcpId, tools: ['no_such_tool'] }] }),
    });
    expect(badTool.status).toBe(400);
    expect(await issued()).toEqual(before);
    expect(await auditRows(gh, 'oauth.consent_granted')).toHaveLength(0);

    const denied = await post('deny', withSession, gh.portalUrl);
    expect(denied.status).toBe(200);
    const { redirectTo } = (await denied.json()) as { redirectTo: string };
    let next: string | null = redirectTo;
    while (next?.startsWith(gh.portalUrl)) next = (await navigate(jar, next)).location;
    const back = new URL(next ?? 'http://none');
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
    expect(await issued()).toEqual(before);
    expect(await auditRows(gh, 'oauth.consent_denied')).toHaveLength(1);
  });

  it('expired, audience-mismatched and query-string tokens on /mcp: 401 with resource_metadata', async () => {
    const forMcp = await tokensFor(`${gh.clientUrl}/mcp`);
    const forFx = await tokensFor(`${gh.clientUrl}/mcp/fx`);
    expect((await initialize('/mcp', forMcp.access_token)).status).toBe(200);
    // Data-plane records are written in batches: wait for the one session the valid token opened.
    await vi.waitFor(async () => expect(await auditRows(gh, 'mcp_session.start')).toHaveLength(1));
    for (const [path, token] of [
      ['/mcp/fx', forMcp.access_token],
      ['/mcp', forFx.access_token],
    ] as const) {
      const refused = await initialize(path, token);
      expect(refused.status).toBe(401);
      expect(refused.challenge).toContain(
        `resource_metadata="${gh.clientUrl}/.well-known/oauth-protected-resource${path}"`,
      );
      expect(refused.challenge).toContain('error="invalid_token"');
    }
    const inQuery = await fetch(`${gh.clientUrl}/mcp?access_token=${forMcp.access_token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(inQuery.status).toBe(401);
    expect(inQuery.headers.get('www-authenticate')).toContain('resource_metadata=');
    clock.advance(15 * 60_000 + 1000);
    const expired = await initialize('/mcp', forMcp.access_token);
    expect(expired.status).toBe(401);
    expect(expired.challenge).toContain('error="invalid_token"');
    expect(await auditRows(gh, 'mcp_session.start')).toHaveLength(1);
  });

  it('a suspended person: their grants and tokens are gone in the same transaction', async () => {
    const { access_token: token } = await tokensFor(`${gh.clientUrl}/mcp`);
    expect((await initialize('/mcp', token)).status).toBe(200);
    await admin.users.suspend.mutate({ id: person.id });
    expect((await initialize('/mcp', token)).status).toBe(401);
    expect(
      await gh.db.query(`select model from oauth_server_record where payload->>'accountId' = $1`, [
        person.id,
      ]),
    ).toEqual([]);
  });

  it('prunes records expired for more than a day when a token request comes (no timer)', async () => {
    clock.advance(31 * 86_400_000);
    const stale = async () =>
      Number(
        (
          await gh.db.query<{ n: string }>(
            'select count(*) as n from oauth_server_record where expires_at < $1',
            [new Date(clock.now().getTime() - 86_400_000)],
          )
        )[0]?.n,
      );
    expect(await stale()).toBeGreaterThan(0);
    const refused = await fetch(`${gh.portalUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: 'nope',
        client_id: dcrClientId,
      }),
    });
    // The registration itself was abandoned 30 days ago (ADR 0034): it is refused, and pruned in its turn.
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' });
    expect(await stale()).toBe(0);
    const [client] = await gh.db.query<{ expires_at: Date }>(
      `select expires_at from oauth_server_record where model = 'Client' and client_id = $1`,
      [dcrClientId],
    );
    expect(client?.expires_at.getTime()).toBeLessThanOrEqual(clock.now().getTime());
  });
});
