import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_IMMEDIATE_PER_KIND } from '../../src/audit/refusal-audit.js';
import { ManualClock } from '../support/clock.js';
import { type ClusterMember, startGatehouseOn } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const ENV = {
  GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
  GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: '1000',
  GATEHOUSE_MCP_AUTH_FAILURES_GLOBAL: '100000',
  GATEHOUSE_AUTH_AUDIT_WINDOW_SECONDS: '60',
};
const randomKey = () => `gh_ck_${randomBytes(32).toString('base64url').replace(/[-_]/g, 'x').slice(0, 43)}`;

interface RefusedRow {
  ip: string | null;
  details: { count: number; windowStart: string; sources?: string; source?: string };
}

describe('refusal audit: aggregation an attack cannot defeat by spreading over addresses (ADR 0018)', () => {
  let db: TestDatabase;
  let member: ClusterMember | undefined;
  // The audit projects' fixed instant (month start, month end, year end), never the machine's date.
  const clock = new ManualClock();

  const unknownKey = (ip: string) =>
    fetch(`${member?.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${randomKey()}`,
        'x-forwarded-for': ip,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    }).then((response) => response.status);
  const windowRows = () => {
    const windowStart = new Date(Math.floor(clock.now().getTime() / 60_000) * 60_000).toISOString();
    return db.query<RefusedRow>(
      `select ip, details from audit_event
       where action = 'auth.refused' and reason = 'unknown_key' and details->>'windowStart' = $1 order by id`,
      [windowStart],
    );
  };
  const sum = (rows: RefusedRow[]) => rows.reduce((total, row) => total + row.details.count, 0);

  beforeAll(async () => {
    db = await createTestDatabase();
  }, 60_000);

  afterAll(async () => {
    await member?.stop();
    await db?.drop();
  });

  it('writes at most the per-kind budget of records at once, and counts every other source in the overflow record', async () => {
    member = await startGatehouseOn(db.url, { env: ENV, clock });
    const sources = MAX_IMMEDIATE_PER_KIND + 30;
    for (let batch = 0; batch < sources; batch += 10) {
      const statuses = await Promise.all(
        Array.from({ length: Math.min(10, sources - batch) }, (_, index) =>
          unknownKey(`10.9.${Math.floor((batch + index) / 200)}.${(batch + index) % 200}`),
        ),
      );
      expect(new Set(statuses)).toEqual(new Set([401]));
    }
    // Before any flush: one record per source up to the budget, plus the overflow's first, each durable
    // before its 401 was sent.
    const atOnce = await windowRows();
    expect(atOnce.filter((row) => !row.details.sources)).toHaveLength(MAX_IMMEDIATE_PER_KIND);
    expect(atOnce.filter((row) => row.details.sources === 'many')).toHaveLength(1);
    expect(atOnce.length).toBe(MAX_IMMEDIATE_PER_KIND + 1);

    await member.stop();
    member = undefined;
    // Flushed on close: every refusal is counted, in at most two overflow records beyond the budget.
    const all = await windowRows();
    expect(sum(all)).toBe(sources);
    expect(all.length).toBeLessThanOrEqual(MAX_IMMEDIATE_PER_KIND + 2);
    expect(all.filter((row) => row.details.sources === 'many').every((row) => !row.ip)).toBe(true);
  }, 60_000);

  it('counts the addresses of one IPv6 /64 as one source', async () => {
    clock.advance(60_000);
    member = await startGatehouseOn(db.url, { env: ENV, clock });
    const hosts = ['2001:db8:bb:1::1', '2001:db8:bb:1::2', '2001:db8:bb:1:aaaa::3', '2001:db8:bb:1:ffff::4'];
    for (const ip of hosts) expect(await unknownKey(ip)).toBe(401);
    const atOnce = await windowRows();
    expect(atOnce).toEqual([
      { ip: hosts[0], details: expect.objectContaining({ count: 1, source: '2001:db8:bb:1::/64' }) },
    ]);
    await member.stop();
    member = undefined;
    const all = await windowRows();
    expect(all).toHaveLength(2);
    expect(sum(all)).toBe(hosts.length);
  }, 60_000);
});
