import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVICTED_REASON } from '../../src/proxy/session-registry.js';
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
import { waitFor } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const REPLAY_BYTES = 256 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;

const initializeBody = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'abandoner', version: '1' },
  },
});

/** Sessions of one client key: abandoned ones make room, live ones are kept, replay memory is shared. */
describe('MCP sessions of one client', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let user: PortalClient;
  const open: Client[] = [];

  async function newClientKey(name: string): Promise<{ id: string; key: string }> {
    const made = await user.clients.create.mutate({ name, kind: 'agent' });
    const mcpId = (await admin.catalog.list.query()).items[0]?.id ?? '';
    await user.subscriptions.create.mutate({ clientId: made.client.id, mcpId });
    return { id: made.client.id, key: made.key };
  }

  const post = (key: string, body: string, sessionId?: string) =>
    fetch(`${gh.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(sessionId && { 'mcp-session-id': sessionId }),
      },
      body,
    });

  /** Opens a session the way a client that then goes away would: initialize, read the answer, leave. */
  async function initialize(key: string): Promise<{ status: number; sessionId: string }> {
    const response = await post(key, initializeBody);
    await response.text();
    return { status: response.status, sessionId: response.headers.get('mcp-session-id') ?? '' };
  }

  async function ping(key: string, sessionId: string): Promise<number> {
    const response = await post(key, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }), sessionId);
    await response.text();
    return response.status;
  }

  beforeAll(async () => {
    gh = await startTestGatehouse({ GATEHOUSE_MCP_REPLAY_BYTES_PER_CLIENT: String(REPLAY_BYTES) });
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
    user = (await createSignedInUser(gh, admin, 'carol', PASSWORD)).portal;
  });

  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await gh.stop();
  });

  it('evicts the least recently used idle session of a client at its limit instead of refusing, and audits it', async () => {
    const { key } = await newClientKey('abandoning agent');
    const ids: string[] = [];
    for (let index = 0; index < 32; index++) {
      const opened = await initialize(key);
      expect(opened.status).toBe(200);
      ids.push(opened.sessionId);
    }
    // The oldest session is used again, so the least recently used one is the second.
    expect(await ping(key, ids[0] ?? '')).toBe(200);

    const fresh = await initialize(key);
    expect(fresh.status).toBe(200);
    expect(await ping(key, fresh.sessionId)).toBe(200);
    expect(await ping(key, ids[1] ?? '')).toBe(404);
    expect(await ping(key, ids[0] ?? '')).toBe(200);
    expect(await ping(key, ids[2] ?? '')).toBe(200);

    const ended = await waitFor(async () => {
      const rows = await auditRows(gh, 'mcp_session.end');
      return rows.find((row) => row.details.session === ids[1]);
    }, 'the eviction to be audited');
    expect(ended.reason).toBe(EVICTED_REASON);
    expect(ended.ip).toMatch(LOOPBACK);
    expect(ended.request_id).toMatch(UUID);
    // Only that one session ended.
    const ends = await auditRows(gh, 'mcp_session.end');
    expect(ends.filter((row) => ids.includes(String(row.details.session)))).toHaveLength(1);
  });

  it('counts sessions being opened toward the limit: parallel initializes with one key cannot exceed it', async () => {
    const { id: clientId, key } = await newClientKey('parallel agent');
    const startsBefore = (await auditRows(gh, 'mcp_session.start')).length;
    // Every initialize is in flight before any is answered: none of their sessions is in the map yet.
    const answers = await Promise.all(Array.from({ length: 200 }, () => initialize(key)));
    const opened = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(opened.length + refused.length).toBe(200);
    const live = gh.mcp.listSessions().filter((session) => session.clientId === clientId);
    expect(live.length).toBeLessThanOrEqual(32);
    // Every session that opened beyond the limit made room by evicting an idle one (audited as such).
    const evicted = async () =>
      (await auditRows(gh, 'mcp_session.end')).filter(
        (row) => row.reason === EVICTED_REASON && opened.some((a) => a.sessionId === row.details.session),
      ).length;
    await expect.poll(evicted).toBe(opened.length - live.length);
    await expect
      .poll(async () => (await auditRows(gh, 'mcp_session.start')).length)
      .toBe(startsBefore + opened.length);
    expect(opened.length).toBeGreaterThanOrEqual(32);
  });

  it('never evicts a session with a live stream: when every session is in use, the next one is refused', async () => {
    const { key } = await newClientKey('busy agent');
    const streams: AbortController[] = [];
    for (let index = 0; index < 32; index++) {
      const { sessionId } = await initialize(key);
      const controller = new AbortController();
      const stream = await fetch(`${gh.clientUrl}/mcp`, {
        headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', 'mcp-session-id': sessionId },
        signal: controller.signal,
      });
      expect(stream.status).toBe(200);
      streams.push(controller);
    }
    const endsBefore = (await auditRows(gh, 'mcp_session.end')).length;
    const refused = await post(key, initializeBody);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Too many open sessions for this client: at most 32');
    expect(refused.headers.get('mcp-session-id')).toBeNull();
    expect((await auditRows(gh, 'mcp_session.end')).length).toBe(endsBefore);

    // Once the client goes away (its streams drop), its sessions are idle and make room again.
    for (const controller of streams) controller.abort();
    const admitted = await waitFor(async () => {
      const attempt = await initialize(key);
      return attempt.status === 200 ? attempt : null;
    }, 'a session to be admitted after the streams closed');
    expect(await ping(key, admitted.sessionId)).toBe(200);
  });

  it("bounds the replay memory of a client's sessions together, and frees it when they end", async () => {
    const { id, key } = await newClientKey('chatty agent');
    const sessions = await Promise.all([0, 1, 2].map(() => connectMcpClient(gh, key)));
    open.push(...sessions);
    let peak = 0;
    for (let round = 0; round < 4; round++) {
      for (const client of sessions) {
        // Asking for progress makes the answer a (resumable) stream; plain JSON answers keep nothing.
        const result = await client.callTool({ name: 'fx__large', arguments: { bytes: 60_000 } }, undefined, {
          onprogress: () => undefined,
        });
        expect(result.isError).toBeFalsy();
        peak = Math.max(peak, gh.mcp.replayBytes(id));
        expect(gh.mcp.replayBytes(id)).toBeLessThanOrEqual(REPLAY_BYTES);
      }
    }
    // Twelve 60 kB answers were streamed; what is kept for replay stays within the bound.
    expect(peak).toBeGreaterThan(REPLAY_BYTES / 2);
    for (const client of sessions) {
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
    }
    await waitFor(() => gh.mcp.replayBytes(id) === 0, 'replay memory to be freed');
  });

  it('records the source IP and request id on session start and end', async () => {
    const { key } = await newClientKey('audited agent');
    const client = await connectMcpClient(gh, key);
    const transport = client.transport as StreamableHTTPClientTransport;
    const sessionId = transport.sessionId ?? '';
    await transport.terminateSession();
    await client.close();
    const [start, end] = await waitFor(async () => {
      const rows = (await auditRows(gh)).filter((row) => row.details.session === sessionId);
      const found = [
        rows.find((row) => row.action === 'mcp_session.start'),
        rows.find((row) => row.action === 'mcp_session.end'),
      ];
      return found.every(Boolean) ? found : null;
    }, 'the session records');
    for (const row of [start, end]) {
      expect(row?.ip).toMatch(LOOPBACK);
      expect(row?.request_id).toMatch(UUID);
    }
    expect(end?.reason).toBe('closed by the client');
    // Each record names the request that started or ended the session.
    expect(end?.request_id).not.toBe(start?.request_id);
  });
});
