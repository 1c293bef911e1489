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
import { consentOverHttp, sessionCookieOf } from '../support/oauth.js';

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

  /** A token pair for `clientId` and `person`, bound to /mcp, through consent and the code exchange. */
  const tokensFor = async (clientId: string, person: { portal: PortalClient }): Promise<TokenPair> => {
    const { verifier, challenge } = pkce();
    const resource = `${gh.clientUrl}/mcp`;
    const url = new URL(`${gh.portalUrl}/oauth/authorize`);
    for (const [key, value] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      scope: 'mcp',
      resource,
      state: 'st4te',
    })) {
      url.searchParams.set(key, value);
    }
    const { redirect } = await consentOverHttp(url.toString(), {
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
});
