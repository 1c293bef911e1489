import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { ManualClock } from '../support/clock.js';
import {
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { CookieJar, consentOverHttp, navigate, sessionCookieOf } from '../support/oauth.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const REDIRECT = 'http://127.0.0.1:33418/callback';
const GLOBAL_FAILURES = 6;

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

interface TokenPair {
  access_token: string;
  refresh_token: string;
}

/**
 * Review fixes of the authorization server's storage and of what surrounds it (ADR 0034): a refresh token
 * consumed twice at once, a password reset, the `/mcp` throttles against a flood of fake bearers, the
 * indexed columns and the expiry of registrations, the interaction's session cookie.
 */
describe('authorization server review fixes (part A)', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  const clock = new ManualClock();

  const register = async (name: string): Promise<string> => {
    const answer = await fetch(`${gh.portalUrl}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        client_name: name,
      }),
    });
    expect(answer.status).toBe(201);
    return ((await answer.json()) as { client_id: string }).client_id;
  };

  const authorizeUrl = (clientId: string, challenge: string) => {
    const url = new URL(`${gh.portalUrl}/oauth/authorize`);
    for (const [key, value] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      scope: 'mcp',
      resource: `${gh.clientUrl}/mcp`,
      state: 'st4te',
    })) {
      url.searchParams.set(key, value);
    }
    return url.toString();
  };

  /** A token pair for `clientId` and `person`, bound to /mcp, through consent and the code exchange. */
  const tokensFor = async (clientId: string, person: { portal: PortalClient }): Promise<TokenPair> => {
    const { verifier, challenge } = pkce();
    const resource = `${gh.clientUrl}/mcp`;
    const { redirect } = await consentOverHttp(authorizeUrl(clientId, challenge), {
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
        client_id: clientId,
        resource,
      }),
    });
    expect(answer.status).toBe(200);
    return (await answer.json()) as TokenPair;
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

  const mcpStatus = async (token: string, ip?: string) => {
    const answer = await fetch(`${gh.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(ip && { 'x-forwarded-for': ip }),
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
    return answer.status;
  };

  const countRows = async (where: string, params: unknown[] = []) =>
    Number(
      (
        await gh.db.query<{ n: string }>(
          `select count(*) as n from oauth_server_record where ${where}`,
          params,
        )
      )[0]?.n,
    );

  beforeAll(async () => {
    gh = await startTestGatehouse(
      {
        GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
        GATEHOUSE_MCP_AUTH_FAILURES_GLOBAL: String(GLOBAL_FAILURES),
      },
      { clock },
    );
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
  });

  afterAll(async () => {
    await gh?.stop();
  });

  it('the same refresh token presented twice at once: at most one succeeds, and the whole grant is revoked', async () => {
    const person = await createSignedInUser(gh, admin, 'rena', PASSWORD);
    const clientId = await register('Racing client');
    const first = await tokensFor(clientId, person);
    expect(await mcpStatus(first.access_token)).toBe(200);

    const answers = await Promise.all([1, 2, 3].map(() => refresh(first.refresh_token, clientId)));
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as (TokenPair & { error?: string })[];
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1);
    expect(statuses.filter((s) => s === 400).length).toBeGreaterThanOrEqual(2);
    for (const [i, body] of bodies.entries()) {
      if (statuses[i] === 400) expect(body).toEqual(expect.objectContaining({ error: 'invalid_grant' }));
    }
    // The family is gone: no token of the grant works, fresh or old, and none is stored.
    for (const body of [first, ...bodies.filter((b) => b.access_token)]) {
      expect(await mcpStatus(body.access_token)).toBe(401);
      expect((await refresh(body.refresh_token, clientId)).status).toBe(400);
    }
    expect(
      await countRows(
        `model in ('AccessToken', 'RefreshToken', 'AuthorizationCode', 'Grant') and payload->>'clientId' = $1`,
        [clientId],
      ),
    ).toBe(0);
  });

  it('a password reset revokes the person’s OAuth grants in the same transaction', async () => {
    const person = await createSignedInUser(gh, admin, 'petra', PASSWORD);
    const clientId = await register('Reset client');
    const tokens = await tokensFor(clientId, person);
    expect(await mcpStatus(tokens.access_token)).toBe(200);
    expect(await countRows(`model = 'Grant' and payload->>'accountId' = $1`, [person.id])).toBe(1);

    await admin.users.resetPassword.mutate({ id: person.id, newPassword: 'Another-long-passphrase-7' });
    expect(await mcpStatus(tokens.access_token)).toBe(401);
    expect((await refresh(tokens.refresh_token, clientId)).status).toBe(400);
    expect(await countRows(`payload->>'accountId' = $1`, [person.id])).toBe(0);
  });

  it('a flood of fake bearers trips the throttles, and a valid token not seen yet still gets through', async () => {
    const person = await createSignedInUser(gh, admin, 'flora', PASSWORD);
    const clientId = await register('Flooded client');
    const expiring = await tokensFor(clientId, person);
    const throttleRows = () => gh.db.query('select bucket, hits from auth_throttle order by bucket');
    // A known token that expired is refused without being charged as a guess.
    clock.advance(16 * 60_000);
    const before = await throttleRows();
    expect(await mcpStatus(expiring.access_token)).toBe(401);
    expect(await throttleRows()).toEqual(before);

    const statuses: number[] = [];
    for (let i = 0; i <= GLOBAL_FAILURES + 1; i++) {
      statuses.push(await mcpStatus(randomBytes(32).toString('base64url')));
    }
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.filter((s) => s === 401).length).toBe(GLOBAL_FAILURES);

    const fresh = await tokensFor(clientId, person);
    expect(await mcpStatus(fresh.access_token)).toBe(200);
    // Fakes are still refused, from memory.
    expect(await mcpStatus(randomBytes(32).toString('base64url'))).toBe(429);
    expect(await mcpStatus('not-even-a-token')).toBe(429);
  });

  it('an interaction stores no session cookie; grants carry indexed person and client ids', async () => {
    const person = await createSignedInUser(gh, admin, 'ida', PASSWORD);
    const clientId = await register('Indexed client');
    // One browser (cookie jar): a first consent signs it in at the authorization server, so the second
    // authorization's interaction carries that session.
    const jar = new CookieJar(sessionCookieOf(person.portal));
    const first = await navigate(jar, authorizeUrl(clientId, pkce().challenge));
    const uid = first.location?.split('/oauth/interaction/')[1] ?? '';
    await navigate(jar, first.location ?? '');
    const details = await navigate(jar, `${gh.portalUrl}/oauth/interaction/${uid}/details`);
    const { mcps } = (await details.response.json()) as { mcps: { id: string }[] };
    const confirmed = await navigate(jar, `${gh.portalUrl}/oauth/interaction/${uid}/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: gh.portalUrl },
      body: JSON.stringify({ subscriptions: mcps.map((mcp) => ({ mcpId: mcp.id, tools: null })) }),
    });
    expect(confirmed.response.status).toBe(200);
    let next: string | null = ((await confirmed.response.json()) as { redirectTo: string }).redirectTo;
    while (next?.startsWith(gh.portalUrl)) next = (await navigate(jar, next)).location;
    expect(next).toContain('code=');
    const second = await navigate(jar, authorizeUrl(clientId, pkce().challenge));
    const secondUid = second.location?.split('/oauth/interaction/')[1] ?? '';
    expect(secondUid).not.toBe('');

    const interactions = await gh.db.query<{ payload: { session?: Record<string, unknown> } }>(
      `select payload from oauth_server_record where model = 'Interaction' and account_id = $1`,
      [person.id],
    );
    expect(interactions.length).toBeGreaterThanOrEqual(1);
    for (const { payload } of interactions) {
      expect(payload.session?.accountId).toBe(person.id);
      expect(payload.session).not.toHaveProperty('cookie');
      expect(payload.session?.cookieHash).toMatch(/^[0-9a-f]{64}$/);
    }
    const grants = await gh.db.query(
      `select account_id, client_id from oauth_server_record where model = 'Grant' and account_id = $1`,
      [person.id],
    );
    expect(grants).toEqual([{ account_id: person.id, client_id: clientId }]);

    // Suspending the person ends their grant, session and open interaction, found by the indexed column.
    await admin.users.suspend.mutate({ id: person.id });
    expect(await countRows('account_id = $1', [person.id])).toBe(0);
  });

  it('a registration expires 30 days after its last use and is pruned; a used one lives on', async () => {
    const person = await createSignedInUser(gh, admin, 'uma', PASSWORD);
    const idle = await register('Idle client');
    const used = await register('Used client');
    const expiry = async (clientId: string) =>
      (
        await gh.db.query<{ expires_at: Date }>(
          `select expires_at from oauth_server_record where model = 'Client' and client_id = $1`,
          [clientId],
        )
      )[0]?.expires_at;
    const registeredAt = clock.now().getTime();
    expect((await expiry(idle))?.getTime()).toBe(registeredAt + 30 * 86_400_000);

    clock.advance(20 * 86_400_000);
    await tokensFor(used, person);
    expect((await expiry(used))?.getTime()).toBeGreaterThanOrEqual(clock.now().getTime() + 30 * 86_400_000);

    clock.advance(12 * 86_400_000);
    // The idle registration is gone for oidc-provider (the authorize endpoint no longer knows it) ...
    const refused = await navigate(new CookieJar(), authorizeUrl(idle, pkce().challenge));
    expect(refused.response.status).toBe(400);
    expect(refused.location).toBeNull();
    // ... and pruned a day later; the used one stays.
    clock.advance(2 * 86_400_000);
    expect((await refresh('no-such-token', used)).status).toBe(400); // any token request prunes
    expect(await expiry(idle)).toBeUndefined();
    expect(await expiry(used)).toBeDefined();
  });
});
