import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { type ClusterMember, startGatehouseOn, throttleHits } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  ADMIN,
  connectMcpClient,
  type PortalClient,
  portalClient,
  type TestGatehouse,
} from '../support/gatehouse.js';

const PER_IP = 3;
const GLOBAL = 8;
const ENV = {
  GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
  GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: String(PER_IP),
  GATEHOUSE_MCP_AUTH_FAILURES_GLOBAL: String(GLOBAL),
  GATEHOUSE_MCP_AUTH_WINDOW_SECONDS: '60',
};
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
const randomKey = () => `gh_ck_${randomBytes(32).toString('base64url').replace(/[-_]/g, 'x').slice(0, 43)}`;

describe('valid client keys are never refused by the /mcp throttles (ADR 0018)', () => {
  let db: TestDatabase;
  let member: ClusterMember;
  let admin: PortalClient;
  // Fixed relative to window boundaries (the start of an hour, plus a second).
  const clock = new ManualClock(new Date(TEST_NOW.getTime() + 1000));

  /** An initialize with `key`, from `ip` (the trusted proxy in front says so). */
  const post = (key: string, ip: string) =>
    fetch(`${member.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${key}`,
        'x-forwarded-for': ip,
      },
      body: INITIALIZE,
    }).then((response) => response.status);
  const count = async (sql: string) => Number((await db.query<{ n: string }>(sql))[0]?.n);

  beforeAll(async () => {
    db = await createTestDatabase();
    member = await startGatehouseOn(db.url, { env: ENV, clock });
    admin = portalClient(member.portalUrl);
    admin.state.csrfToken = (await admin.setup.createFirstAdmin.mutate(ADMIN)).csrfToken;
  }, 120_000);

  afterAll(async () => {
    await member?.stop();
    await db?.drop();
  });

  it('serves a valid key that is not cached (fresh process, then after a clients change) while a flood has tripped the global limit', async () => {
    const { key: firstKey } = await admin.clients.create.mutate({ name: 'First agent', kind: 'agent' });
    // A fresh process: its access cache is empty.
    await member.stop();
    member = await startGatehouseOn(db.url, { env: ENV, clock });
    admin = portalClient(member.portalUrl);
    await admin.signIn(ADMIN.username, ADMIN.password);

    // Random keys from many addresses trip the global limit.
    for (let index = 0; index < GLOBAL; index++) expect(await post(randomKey(), `10.1.0.${index}`)).toBe(401);
    expect(await post(randomKey(), '10.1.1.1')).toBe(429);
    expect(await throttleHits(db, 'mcp-global')).toBe(GLOBAL + 1);

    // Tripped: unknown keys are refused from memory (with the counters and clients locked, answers still
    // come) and change nothing.
    const hits = await db.query('select bucket, hits from auth_throttle order by bucket');
    const sessionsBefore = await count(
      "select count(*) as n from audit_event where action = 'mcp_session.start'",
    );
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table mcp_client, auth_throttle in access exclusive mode');
    try {
      const flood = await Promise.all(
        Array.from({ length: 30 }, (_, index) => post(randomKey(), `10.2.${index}.1`)),
      );
      expect(new Set(flood)).toEqual(new Set([429]));
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    expect(await db.query('select bucket, hits from auth_throttle order by bucket')).toEqual(hits);
    expect(await count("select count(*) as n from audit_event where action = 'mcp_session.start'")).toBe(
      sessionsBefore,
    );

    // The valid key was never cached in this process: it is served all the same.
    const first = await connectMcpClient({ clientUrl: member.clientUrl } as TestGatehouse, firstKey);
    await expect(first.ping()).resolves.toBeDefined();
    await first.close();

    // A clients change clears the access cache: a new key and the first one are both served, still tripped.
    const { key: secondKey } = await admin.clients.create.mutate({ name: 'Second agent', kind: 'agent' });
    expect(await post(randomKey(), '10.3.0.1')).toBe(429);
    for (const key of [secondKey, firstKey]) {
      const client = await connectMcpClient({ clientUrl: member.clientUrl } as TestGatehouse, key);
      await expect(client.listTools()).resolves.toMatchObject({ tools: [] });
      await client.close();
    }
    // Nothing the valid clients did counted as a failure.
    expect(await db.query('select bucket, hits from auth_throttle order by bucket')).toEqual(hits);
  }, 60_000);

  it('counts IPv6 sources per /64, so rotating addresses inside one network does not multiply the limit', async () => {
    clock.advance(60_000);
    await db.query('delete from auth_throttle');
    const hosts = ['2001:db8:aa:1::1', '2001:db8:aa:1::2', '2001:db8:aa:1:ffff:1:2:3'];
    for (const ip of hosts) expect(await post(randomKey(), ip)).toBe(401);
    expect(await throttleHits(db, 'mcp-ip:2001:db8:aa:1::/64')).toBe(PER_IP);
    const auditBefore = await count(
      "select count(*) as n from audit_event where action = 'mcp_session.start'",
    );
    expect(await post(randomKey(), '2001:db8:aa:1:abcd::9')).toBe(429);
    // Another /64 is another source.
    expect(await post(randomKey(), '2001:db8:aa:2::1')).toBe(401);
    expect(await count("select count(*) as n from audit_event where action = 'mcp_session.start'")).toBe(
      auditBefore,
    );
  });
});
