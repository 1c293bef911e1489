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
const PER_IP = 8;

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** The authorization server's review fixes, part B (ADR 0033). */
describe('authorization server review fixes (B)', () => {
  let gh: TestGatehouse;
  let cimd: CimdServer;
  let admin: PortalClient;
  let alice: { id: string; portal: PortalClient };
  let bob: { id: string; portal: PortalClient };
  let dcrClientId = '';
  const mcpIds: Record<string, string> = {};
  const clock = new ManualClock();

  const register = (metadata: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${gh.portalUrl}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        client_name: 'Review DCR',
        ...metadata,
      }),
    });

  const authorizeUrl = (params: Record<string, string>) => {
    const url = new URL(`${gh.portalUrl}/oauth/authorize`);
    for (const [key, value] of Object.entries({
      response_type: 'code',
      client_id: dcrClientId,
      redirect_uri: REDIRECT,
      code_challenge_method: 'S256',
      scope: 'mcp',
      resource: `${gh.clientUrl}/mcp`,
      state: 'st4te',
      ...params,
    })) {
      url.searchParams.set(key, value);
    }
    return url.toString();
  };

  const exchange = (code: string, verifier: string, resource: string) =>
    fetch(`${gh.portalUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: dcrClientId,
        resource,
      }),
    });

  const countOf = async (sql: string, params: unknown[] = []) =>
    Number((await gh.db.query<{ n: string }>(sql, params))[0]?.n);
  const clientRecords = () => countOf(`select count(*) as n from oauth_server_record where model = 'Client'`);

  beforeAll(async () => {
    cimd = await startCimdServer();
    gh = await startTestGatehouse(
      {
        ...cimd.env,
        GATEHOUSE_OAUTH_REGISTRATIONS_PER_IP: String(PER_IP),
        // A proxy that is not the test's peer: X-Forwarded-For from 127.0.0.1 must not be believed.
        GATEHOUSE_TRUSTED_PROXIES: '10.9.9.9',
      },
      { clock },
    );
    admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    for (const slug of ['fx', 'fy']) {
      const created = await admin.catalog.create.mutate({
        slug,
        name: slug,
        config: {
          connection: { transport: 'stdio', ...fixtureStdioCommand() },
          timeouts: { connectMs: 20_000, callMs: 10_000 },
        },
        groupIds: [everyone],
      });
      await admin.catalog.validate.mutate({ id: created.id });
      await admin.catalog.discover.mutate({ id: created.id });
      await admin.catalog.publish.mutate({ id: created.id });
      mcpIds[slug] = created.id;
    }
    alice = await createSignedInUser(gh, admin, 'alice', PASSWORD);
    bob = await createSignedInUser(gh, admin, 'bob', PASSWORD);
    const registered = await register({});
    expect(registered.status).toBe(201);
    dcrClientId = ((await registered.json()) as { client_id: string }).client_id;
  });

  afterAll(async () => {
    await gh?.stop();
    await cimd?.close();
  });

  it('refuses client metadata members that name keys or URIs Gatehouse never uses', async () => {
    const before = await clientRecords();
    const audits = (await auditRows(gh, 'oauth.client_registered')).length;
    for (const metadata of [
      { jwks_uri: 'https://app.example/jwks' },
      { jwks: { keys: [] } },
      { sector_identifier_uri: 'https://app.example/sector' },
      { post_logout_redirect_uris: ['https://app.example/bye'] },
    ]) {
      const answer = await register(metadata);
      expect(answer.status, JSON.stringify(metadata)).toBe(400);
      expect(await answer.json()).toMatchObject({ error: 'invalid_client_metadata' });
    }
    expect(await clientRecords()).toBe(before);
    expect(await auditRows(gh, 'oauth.client_registered')).toHaveLength(audits);
  });

  it('discovery advertises no PAR or RP-initiated logout, and every advertised endpoint is served', async () => {
    const discovery = (await (
      await fetch(`${gh.portalUrl}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    expect(discovery.pushed_authorization_request_endpoint).toBeUndefined();
    expect(discovery.end_session_endpoint).toBeUndefined();
    const endpoints = Object.entries(discovery).filter(
      ([key]) => key.endsWith('_endpoint') || key === 'jwks_uri',
    );
    expect(endpoints.length).toBeGreaterThan(0);
    for (const [key, url] of endpoints) {
      const answer = await fetch(String(url), {
        method: key === 'jwks_uri' || key === 'authorization_endpoint' ? 'GET' : 'POST',
      });
      expect(answer.status, key).not.toBe(404);
      await answer.text();
    }
  });

  it('oidc-provider pages carry the security headers', async () => {
    const { response } = await navigate(
      new CookieJar(),
      `${gh.portalUrl}/oauth/authorize?response_type=code`,
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('audits the address Fastify trusts, never a spoofed X-Forwarded-For', async () => {
    const answer = await register({ client_name: 'Spoofer' }, { 'x-forwarded-for': '203.0.113.77' });
    expect(answer.status).toBe(201);
    const { client_id: clientId } = (await answer.json()) as { client_id: string };
    const row = (await auditRows(gh, 'oauth.client_registered')).find(
      (r) => (r.details as { oauthClientId?: string }).oauthClientId === clientId,
    );
    expect(row).toBeDefined();
    expect(String(row?.ip)).not.toContain('203.0.113.77');
    expect(String(row?.ip)).toMatch(/127\.0\.0\.1|::1/);
  });

  it('two people in one browser, one after the other: both get a code, each their own grant', async () => {
    const jar = new CookieJar();
    const codes: string[] = [];
    for (const person of [alice, bob]) {
      const { challenge } = pkce();
      const { redirect } = await consentOverHttp(authorizeUrl({ code_challenge: challenge }), {
        portalUrl: gh.portalUrl,
        sessionCookie: sessionCookieOf(person.portal),
        jar,
      });
      expect(redirect.searchParams.get('error')).toBeNull();
      codes.push(redirect.searchParams.get('code') ?? '');
    }
    expect(codes.every((code) => code.length > 0)).toBe(true);
    const owners = await gh.db.query<{ user_id: string }>(
      'select user_id from mcp_client where oauth_client_id = $1 order by user_id',
      [dcrClientId],
    );
    expect(owners.map((row) => row.user_id).sort()).toEqual([alice.id, bob.id].sort());
  });

  it('consent to one MCP replaces only its subscription, and a replayed code is refused and audited', async () => {
    const carol = await createSignedInUser(gh, admin, 'carol', PASSWORD);
    const cookie = sessionCookieOf(carol.portal);
    await consentOverHttp(authorizeUrl({ code_challenge: pkce().challenge }), {
      portalUrl: gh.portalUrl,
      sessionCookie: cookie,
    });
    const resource = `${gh.clientUrl}/mcp/fx`;
    const { verifier, challenge } = pkce();
    const { redirect } = await consentOverHttp(authorizeUrl({ code_challenge: challenge, resource }), {
      portalUrl: gh.portalUrl,
      sessionCookie: cookie,
      subscriptions: () => [{ mcpId: mcpIds.fx ?? '', tools: null }],
    });
    const subscribed = await gh.db.query<{ mcp_id: string }>(
      `select s.mcp_id from client_subscription s join mcp_client c on c.id = s.client_id
       where c.user_id = $1 and c.oauth_client_id = $2 order by s.mcp_id`,
      [carol.id, dcrClientId],
    );
    expect(subscribed.map((row) => row.mcp_id).sort()).toEqual([mcpIds.fx, mcpIds.fy].sort());

    const code = redirect.searchParams.get('code') ?? '';
    expect((await exchange(code, verifier, resource)).status).toBe(200);
    const replays = (await auditRows(gh, 'oauth.code_replay_detected')).length;
    const replay = await exchange(code, verifier, resource);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    const rows = await auditRows(gh, 'oauth.code_replay_detected');
    expect(rows).toHaveLength(replays + 1);
    expect(rows.at(-1)?.outcome).toBe('denied');
    expect(JSON.stringify(rows.at(-1))).not.toContain(code);
    // Any other token refusal is counted through the refusal audit (no code or verifier in it).
    const bogus = await exchange('not-a-code', verifier, resource);
    expect(bogus.status).toBe(400);
    await vi.waitFor(
      async () => {
        const refused = (await auditRows(gh, 'auth.refused')).filter(
          (row) => (row.details as { kind?: string }).kind === 'oauth_token_refused',
        );
        expect(refused.length).toBeGreaterThanOrEqual(1);
        expect(JSON.stringify(refused)).not.toContain(verifier);
      },
      { timeout: 10_000, interval: 100 },
    );
  });

  it('throttles anonymous registrations per source: 429 with Retry-After, no client, audited as a refusal', async () => {
    let answer = await register({});
    for (let attempt = 0; attempt < PER_IP + 2 && answer.status === 201; attempt++)
      answer = await register({});
    expect(answer.status).toBe(429);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await answer.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    const clients = await clientRecords();
    const registrations = (await auditRows(gh, 'oauth.client_registered')).length;
    // A first use of a CIMD client id is counted in the same buckets: refused before any fetch.
    const url = cimd.publish('/clients/throttled.json', cimdDocument(REDIRECT));
    const cimdAnswer = await navigate(
      new CookieJar(),
      authorizeUrl({ client_id: url, code_challenge: pkce().challenge }),
    );
    expect(cimdAnswer.response.status).toBe(429);
    // A refused client id is not remembered as fetched: asking again is refused again, still never fetched.
    const again = await navigate(
      new CookieJar(),
      authorizeUrl({ client_id: url, code_challenge: pkce().challenge }),
    );
    expect(again.response.status).toBe(429);
    expect(cimd.fetches.get('/clients/throttled.json')).toBeUndefined();
    expect((await register({})).status).toBe(429);
    expect(await clientRecords()).toBe(clients);
    expect(await auditRows(gh, 'oauth.client_registered')).toHaveLength(registrations);
    await vi.waitFor(
      async () => {
        const refusals = (await auditRows(gh, 'auth.refused')).filter(
          (row) => (row.details as { kind?: string }).kind === 'oauth_registration_throttled',
        );
        expect(refusals.length).toBeGreaterThanOrEqual(1);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});

/** CIMD fetches follow their own private-network setting, never the downstream OAuth one (ADR 0033). */
describe('CIMD private networks', () => {
  let cimd: CimdServer;
  let strict: TestGatehouse;

  beforeAll(async () => {
    cimd = await startCimdServer();
    strict = await startTestGatehouse({
      GATEHOUSE_OAUTH_CA_FILE: cimd.env.GATEHOUSE_OAUTH_CA_FILE ?? '',
      GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
    });
  });

  afterAll(async () => {
    await strict?.stop();
    await cimd?.close();
  });

  it('a private CIMD URL is refused and never contacted, with the same text as any failed fetch', async () => {
    const attempt = async (clientId: string) => {
      const target = new URL(`${strict.portalUrl}/oauth/authorize`);
      for (const [key, value] of Object.entries({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        scope: 'mcp',
      })) {
        target.searchParams.set(key, value);
      }
      const { response, location } = await navigate(new CookieJar(), target.toString());
      expect(location).toBeNull();
      return { status: response.status, body: await response.json() };
    };
    const url = cimd.publish('/clients/private.json', cimdDocument(REDIRECT));
    const refused = await attempt(url);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid_client' });
    expect(cimd.fetches.get('/clients/private.json')).toBeUndefined();
    const missing = await attempt('https://gatehouse-test.invalid/client.json');
    expect(missing).toEqual(refused);
    expect(await strict.db.query('select 1 from oauth_server_record where model <> $1', ['Session'])).toEqual(
      [],
    );
  });
});
