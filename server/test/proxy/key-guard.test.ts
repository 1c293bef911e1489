import { randomBytes } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { type ClusterMember, rawRequest, startGatehouseOn, throttleHits } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN, connectMcpClient, portalClient, type TestGatehouse } from '../support/gatehouse.js';
import { waitFor } from '../support/processes.js';

const PER_IP = 6;
const BODY_TIMEOUT_MS = 700;
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

const randomKey = () => `gh_ck_${randomBytes(32).toString('base64url').replace(/[-_]/g, 'x').slice(0, 43)}`;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

describe('client keys on /mcp: throttled, constant-work, checked before the body (ADR 0018)', () => {
  let db: TestDatabase;
  let a: ClusterMember;
  let b: ClusterMember;
  // Fixed relative to window boundaries (the start of an hour, plus a second); audit partitions exist for it.
  const clock = new ManualClock(new Date(TEST_NOW.getTime() + 1000));
  let validKey: string;
  let valid: Client;

  const post = (member: ClusterMember, key: string | undefined, headers: Record<string, string> = {}) =>
    fetch(`${member.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(key && { authorization: `Bearer ${key}` }),
        ...headers,
      },
      body: INITIALIZE,
    });
  const refusedRows = (kind: string) =>
    db.query<{ details: { count: number; kind: string }; ip: string }>(
      `select details, ip from audit_event where action = 'auth.refused' and reason = $1 order by id`,
      [kind],
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = {
      GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: String(PER_IP),
      GATEHOUSE_MCP_AUTH_WINDOW_SECONDS: '60',
      GATEHOUSE_REQUEST_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
    };
    a = await startGatehouseOn(db.url, { env, clock });
    b = await startGatehouseOn(db.url, { env, clock });
    const admin = portalClient(a.portalUrl);
    admin.state.csrfToken = (await admin.setup.createFirstAdmin.mutate(ADMIN)).csrfToken;
    const created = await admin.clients.create.mutate({ name: 'Valid agent', kind: 'agent' });
    validKey = created.key;
    valid = await connectMcpClient({ clientUrl: a.clientUrl } as TestGatehouse, validKey);
  }, 120_000);

  afterAll(async () => {
    await valid?.close();
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  it('answers headers with a bad key 401 at once, without waiting for the body it announced', async () => {
    const { hostname, port } = new URL(a.clientUrl);
    const result = await rawRequest(
      a.clientUrl,
      `POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${randomKey()}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n',
      () => undefined,
      5000,
    );
    expect(result.response).toMatch(/^HTTP\/1\.1 401 /);
    expect(result.response.toLowerCase()).toContain('connection: close');
    // Answered from the headers: well before the body deadline could have done anything.
    expect(result.firstByteMs).not.toBeNull();
    expect(result.firstByteMs ?? Number.POSITIVE_INFINITY).toBeLessThan(BODY_TIMEOUT_MS);
    await db.query('delete from auth_throttle');
  });

  it('closes the connection of a valid key that trickles its body past the deadline', async () => {
    const { hostname, port } = new URL(a.clientUrl);
    let trickle: NodeJS.Timeout | undefined;
    const result = await rawRequest(
      a.clientUrl,
      `POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${validKey}\r\n` +
        'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
        `Content-Length: ${INITIALIZE.length}\r\n\r\n`,
      (socket) => {
        let sent = 0;
        trickle = setInterval(() => {
          if (sent < INITIALIZE.length - 1 && !socket.destroyed) socket.write(INITIALIZE.charAt(sent++));
        }, 100);
      },
      10_000,
    );
    clearInterval(trickle);
    expect(result.response).toBe('');
    expect(result.closedMs).not.toBeNull();
    expect(result.closedMs ?? 0).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    expect(result.closedMs ?? Number.POSITIVE_INFINITY).toBeLessThan(BODY_TIMEOUT_MS + 4000);
  });

  it('gives malformed and well-formed unknown keys the same work (medians within a factor of 2)', async () => {
    const durations = { malformed: [] as number[], wellFormed: [] as number[] };
    // Warm both paths first so connection setup does not count.
    for (let round = 0; round < 3; round++) {
      await post(b, randomKey());
      await post(b, `x${randomBytes(8).toString('hex')}`);
    }
    await db.query('delete from auth_throttle');
    for (let round = 0; round < 24; round++) {
      for (const kind of round % 2
        ? (['malformed', 'wellFormed'] as const)
        : (['wellFormed', 'malformed'] as const)) {
        const key = kind === 'wellFormed' ? randomKey() : `not-a-key-${randomBytes(8).toString('hex')}`;
        const started = performance.now();
        const response = await post(b, key, { 'x-round': String(round) });
        durations[kind].push(performance.now() - started);
        expect(response.status === 401 || response.status === 429).toBe(true);
        // Stay under the per-IP limit: this test is about timing, not throttling.
        await db.query('delete from auth_throttle');
      }
    }
    const malformed = median(durations.malformed);
    const wellFormed = median(durations.wellFormed);
    // Before: 1 ms against 3.6 ms (no lookup for malformed keys). Now both hash and look up.
    expect(malformed / wellFormed).toBeGreaterThan(0.5);
    expect(malformed / wellFormed).toBeLessThan(2);
  });

  it('throttles unknown keys per source IP across two processes, from memory once tripped, and keeps valid clients served', async () => {
    await db.query('delete from auth_throttle');
    // Half the allowance on each process: only a shared count can notice the limit.
    for (let attempt = 0; attempt < PER_IP; attempt++) {
      const response = await post(attempt % 2 ? a : b, attempt % 3 ? randomKey() : 'malformed');
      expect(response.status).toBe(401);
    }
    expect(await throttleHits(db, 'mcp-ip:127.0.0.1')).toBe(PER_IP);

    const refusedOnA = await post(a, randomKey());
    expect(refusedOnA.status).toBe(429);
    const retryAfter = Number(refusedOnA.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refusedOnA.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    const refusedOnB = await post(b, randomKey());
    expect(refusedOnB.status).toBe(429);
    expect(refusedOnB.headers.get('retry-after')).toBeTruthy();
    const hitsWhenTripped = await throttleHits(db, 'mcp-ip:127.0.0.1');
    const auditBefore = Number((await db.query('select count(*) as n from audit_event'))[0]?.n);

    // Once tripped, a flood reads and writes nothing: with both tables locked, answers still come at once.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table mcp_client, auth_throttle in access exclusive mode');
    try {
      const flood = await Promise.all(
        Array.from({ length: 40 }, (_, index) => post(index % 2 ? a : b, randomKey()).then((r) => r.status)),
      );
      expect(new Set(flood)).toEqual(new Set([429]));
      // The valid client's key is cached: it is served even now, from the same address.
      await expect(valid.ping()).resolves.toBeDefined();
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    expect(await throttleHits(db, 'mcp-ip:127.0.0.1')).toBe(hitsWhenTripped);
    expect(await valid.listTools()).toMatchObject({ tools: [] });

    // Audited in aggregate: 40 refused requests add at most a record or two per process, not 40.
    const auditAfter = Number((await db.query('select count(*) as n from audit_event'))[0]?.n);
    expect(auditAfter - auditBefore).toBeLessThanOrEqual(4);
    expect((await refusedRows('throttled'))[0]).toMatchObject({
      ip: '127.0.0.1',
      details: { kind: 'throttled', count: 1 },
    });
    expect((await refusedRows('unknown_key'))[0]).toMatchObject({
      details: { wellFormed: expect.any(Boolean) },
    });

    // The window ends (by the injected clock): unknown keys are answered 401 again.
    clock.advance(61_000);
    expect((await post(a, randomKey())).status).toBe(401);
  });

  it('audits refusals with their counts once flushed, one record per (kind, source) per window', async () => {
    clock.advance(60_000);
    await db.query('delete from auth_throttle');
    const before = await refusedRows('unknown_key');
    for (let attempt = 0; attempt < 5; attempt++) expect((await post(b, randomKey())).status).toBe(401);
    // B is stopped (its refusals flushed on close) and started again on the same database.
    await b.stop();
    const windowStart = new Date(Math.floor(clock.now().getTime() / 60_000) * 60_000).toISOString();
    const after = (await refusedRows('unknown_key'))
      .slice(before.length)
      .filter((row) => (row.details as { windowStart?: string }).windowStart === windowStart);
    // The first at once, the rest counted (one flush on close; the interval flush may have run once too).
    expect(after[0]?.details.count).toBe(1);
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.length).toBeLessThanOrEqual(3);
    expect(after.reduce((sum, row) => sum + row.details.count, 0)).toBe(5);
    b = await startGatehouseOn(db.url, {
      env: { GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: String(PER_IP) },
      clock,
    });
  }, 60_000);

  it('audits a session id presented with another client key as a mismatch, and answers 404', async () => {
    const admin = portalClient(a.portalUrl);
    await admin.signIn(ADMIN.username, ADMIN.password);
    const other = await admin.clients.create.mutate({ name: 'Other agent', kind: 'agent' });
    const opened = await post(a, validKey);
    expect(opened.status).toBe(200);
    const sessionId = opened.headers.get('mcp-session-id') ?? '';
    expect(sessionId).not.toBe('');
    const before = (await refusedRows('session_mismatch')).length;
    const hijack = await fetch(`${a.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${other.key}`,
        'mcp-session-id': sessionId,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(hijack.status).toBe(404);
    // Written through the group-commit writer, right after the answer.
    const rows = await waitFor(async () => {
      const found = await refusedRows('session_mismatch');
      return found.length > before ? found : undefined;
    }, 'the mismatch audit record');
    expect(rows.length).toBe(before + 1);
    expect(rows.at(-1)).toMatchObject({ ip: '127.0.0.1', details: { kind: 'session_mismatch', count: 1 } });
  });
});
