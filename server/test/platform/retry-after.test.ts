import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { waitFor } from '../support/processes.js';

const BOGUS_TOKEN = 'gh_at_0000000000000000000000000000000000000000000';

describe('every 429 carries Retry-After: tRPC, GraphQL, the export and /mcp', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;

  const asBogus = { authorization: `Bearer ${BOGUS_TOKEN}` };
  const trpcMe = () => fetch(`${gh.portalUrl}/trpc/auth.me`, { headers: asBogus });
  const graphql = (query: string, headers: Record<string, string>) =>
    fetch(`${gh.portalUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: gh.portalUrl, ...headers },
      body: JSON.stringify({ query }),
    });
  const exportRoute = () => fetch(`${gh.portalUrl}/api/audit/export`, { headers: asBogus });

  beforeAll(async () => {
    gh = await startTestGatehouse({
      GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: '2',
      GATEHOUSE_MCP_AUTH_WINDOW_SECONDS: '3600',
    });
    admin = await setUpAdmin(gh);
  }, 60_000);

  afterAll(async () => {
    await gh?.stop();
  });

  it('throttles unknown API tokens per address on every portal transport, each 429 with Retry-After', async () => {
    expect((await trpcMe()).status).toBe(401);
    expect((await graphql('{ me { id } }', asBogus)).status).toBe(401);
    const tripped = await exportRoute();
    expect(tripped.status).toBe(429);
    expect(Number(tripped.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(await tripped.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });

    const trpc = await trpcMe();
    expect(trpc.status).toBe(429);
    expect(Number(trpc.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(
      ((await trpc.json()) as { error: { data: { gatehouseCode: string } } }).error.data.gatehouseCode,
    ).toBe('RATE_LIMITED');
    const gql = await graphql('{ me { id } }', asBogus);
    expect(gql.status).toBe(429);
    expect(Number(gql.headers.get('retry-after'))).toBeGreaterThan(1);

    // A valid token or session is not refused: only failures are throttled.
    expect((await admin.auth.me.query()).user.username).toBeTruthy();
    const counted = await gh.db.query<{ hits: number }>(
      "select hits from auth_throttle where bucket = 'api-ip:127.0.0.1'",
    );
    expect(counted).toEqual([{ hits: 3 }]);
  });

  it('adds Retry-After to a 429 that names no time of its own (GraphQL concurrency limit)', async () => {
    const cookie = admin.state.cookie;
    const locker = new pg.Client({ connectionString: gh.db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table audit_event in access exclusive mode');
    let running: Promise<Response>[] = [];
    try {
      const query = '{ auditEvents(first: 1) { edges { node { id } } } }';
      running = Array.from({ length: 4 }, () => graphql(query, { cookie }));
      // The four hold the explorer's per-person slots while they wait for the table.
      await waitFor(async () => {
        const [row] = await gh.db.query<{ n: string }>(
          "select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        );
        return Number(row?.n) >= 4 || undefined;
      }, 'four explorer queries waiting');
      const fifth = await graphql(query, { cookie });
      expect(fifth.status).toBe(429);
      expect(fifth.headers.get('retry-after')).toBe('1');
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    for (const response of await Promise.all(running)) expect(response.status).toBe(200);
  });

  it('answers a throttled client key on /mcp with 429 and Retry-After', async () => {
    const post = () =>
      fetch(`${gh.clientUrl}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: 'Bearer gh_ck_notakeynotakeynotakeynotakeynotakeynotakey1',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    expect((await post()).status).toBe(401);
    expect((await post()).status).toBe(401);
    const throttled = await post();
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(1);
  });
});
