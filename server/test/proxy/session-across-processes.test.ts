import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterMember, startGatehouseOn } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN, portalClient } from '../support/gatehouse.js';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: { sampling: {} },
    clientInfo: { name: 'raw', version: '1' },
  },
};

/** A session is a row: a second Gatehouse on the same database serves it, for its own key only. */
describe('MCP sessions across Gatehouse processes', () => {
  let db: TestDatabase;
  let a: ClusterMember;
  let b: ClusterMember;
  const keys: string[] = [];

  const post = (member: ClusterMember, key: string, body: object, headers: Record<string, string> = {}) =>
    fetch(`${member.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    a = await startGatehouseOn(db.url);
    b = await startGatehouseOn(db.url);
    const admin = portalClient(a.portalUrl);
    admin.state.csrfToken = (await admin.setup.createFirstAdmin.mutate(ADMIN)).csrfToken;
    for (const name of ['first agent', 'second agent']) {
      keys.push((await admin.clients.create.mutate({ name, kind: 'agent' })).key);
    }
  }, 120_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  it('serves a session opened on one process from another, with the state negotiated at initialize', async () => {
    const [key = '', otherKey = ''] = keys;
    const opened = await post(a, key, INITIALIZE);
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id') ?? '';
    await opened.text();
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    const rows = await db.query<{ protocol_version: string; client_capabilities: unknown }>(
      'select protocol_version, client_capabilities from mcp_session',
    );
    expect(rows).toEqual([{ protocol_version: '2025-06-18', client_capabilities: { sampling: {} } }]);

    // Another key presenting the id, on either process: as if the session did not exist; nothing changes.
    const foreign = await post(b, otherKey, { jsonrpc: '2.0', id: 2, method: 'ping' }, headers);
    expect(foreign.status).toBe(404);
    expect(b.mcp.listSessions()).toEqual([]);

    const level = await post(
      b,
      key,
      { jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'error' } },
      headers,
    );
    expect(level.status).toBe(200);
    expect(await level.json()).toEqual({ jsonrpc: '2.0', id: 3, result: {} });
    expect(b.mcp.listSessions().map((listed) => listed.id)).toEqual([session]);
    expect(await db.query('select log_level from mcp_session')).toEqual([{ log_level: 'error' }]);
    const listed = await post(b, key, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, headers);
    expect(await listed.json()).toEqual({ jsonrpc: '2.0', id: 4, result: { tools: [] } });

    // Ended on the process that did not open it: the row is gone.
    const ended = await fetch(`${b.clientUrl}/mcp`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}`, ...headers },
    });
    expect(ended.status).toBe(200);
    expect(await db.query('select * from mcp_session')).toEqual([]);
  });
});
