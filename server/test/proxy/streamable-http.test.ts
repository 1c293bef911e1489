import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  createSignedInUser,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const PASSWORD = 'Plenty-long-passphrase-9';

/** The events of an SSE body, in order: id and parsed data (priming events, with no data, left out). */
const eventsOf = (text: string) =>
  text
    .split(/\n\n/)
    .map((block) => ({ id: /^id: (.+)$/m.exec(block)?.[1] ?? '', data: /^data: (.+)$/m.exec(block)?.[1] }))
    .filter((event): event is { id: string; data: string } => event.data !== undefined)
    .map((event) => ({ id: event.id, message: JSON.parse(event.data) as Record<string, unknown> }));

/** How `/mcp` answers: plain JSON unless something has to stream, and what a request carries through it. */
describe('Streamable HTTP served by Gatehouse', () => {
  let gh: TestGatehouse;
  let key = '';

  const post = (body: object, headers: Record<string, string> = {}) =>
    fetch(`${gh.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  async function openSession(capabilities: object = {}): Promise<Record<string, string>> {
    const opened = await post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'raw', version: '1' } },
    });
    expect(opened.status).toBe(200);
    await opened.text();
    const headers = {
      'mcp-session-id': opened.headers.get('mcp-session-id') ?? '',
      'mcp-protocol-version': '2025-11-25',
    };
    const initialized = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    expect(initialized.status).toBe(202);
    return headers;
  }

  beforeAll(async () => {
    gh = await startTestGatehouse();
    const admin = await setUpAdmin(gh);
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
    const { portal } = await createSignedInUser(gh, admin, 'dora', PASSWORD);
    const made = await portal.clients.create.mutate({ name: 'raw client', kind: 'agent' });
    await portal.subscriptions.create.mutate({ clientId: made.client.id, mcpId: created.id });
    key = made.key;
  });

  afterAll(async () => {
    await gh.stop();
  });

  it('answers initialize and a call that streams nothing with plain application/json', async () => {
    const opened = await post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    expect(opened.headers.get('content-type')).toContain('application/json');
    expect(await opened.json()).toMatchObject({
      id: 1,
      result: {
        protocolVersion: '2025-06-18',
        capabilities: { tools: { listChanged: true }, resources: { subscribe: true } },
      },
    });
    const headers = await openSession();
    const answer = await post(
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'fx__echo', arguments: { message: 'hi' } },
      },
      headers,
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toContain('application/json');
    expect(answer.headers.get('mcp-session-id')).toBe(headers['mcp-session-id']);
    expect(await answer.json()).toEqual({
      jsonrpc: '2.0',
      id: 2,
      result: { content: [{ type: 'text', text: 'hi' }] },
    });
    // Progress the downstream would send is not asked for, so it never opens a stream.
    const quiet = await post(
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'fx__progress', arguments: { steps: 2 } },
      },
      headers,
    );
    expect(quiet.headers.get('content-type')).toContain('application/json');
    expect(((await quiet.json()) as { result: unknown }).result).toEqual({
      content: [{ type: 'text', text: 'done 2' }],
    });
  });

  it('streams the answer as SSE with every progress event when the request carries a progress token', async () => {
    const headers = await openSession();
    const answer = await post(
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'fx__progress', arguments: { steps: 3 }, _meta: { progressToken: 'tok' } },
      },
      headers,
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toContain('text/event-stream');
    const events = eventsOf(await answer.text());
    expect(events.map((event) => event.message)).toEqual([
      ...[1, 2, 3].map((progress) => ({
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: 'tok', progress, total: 3 },
      })),
      { jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'done 3' }] } },
    ]);
    // Every event has its own id, for Last-Event-ID.
    expect(new Set(events.map((event) => event.id)).size).toBe(4);
  });

  it('turns a JSON answer into SSE when the downstream asks the client something during the call', async () => {
    const headers = await openSession({ elicitation: {} });
    const answer = await post(
      {
        jsonrpc: '2.0',
        id: 4,
        method: 'tools/call',
        params: { name: 'fx__ask', arguments: { question: 'Q?' } },
      },
      headers,
    );
    expect(answer.headers.get('content-type')).toContain('text/event-stream');
    const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('elicitation/create')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const asked = eventsOf(text).find((event) => event.message.method === 'elicitation/create')?.message;
    expect(asked?.params).toMatchObject({ message: 'Q?' });
    // The client's answer is POSTed back and routed to the call that asked.
    const replied = await post(
      { jsonrpc: '2.0', id: asked?.id, result: { action: 'accept', content: { answer: '42' } } },
      headers,
    );
    expect(replied.status).toBe(202);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(eventsOf(text).at(-1)?.message).toEqual({
      jsonrpc: '2.0',
      id: 4,
      result: { content: [{ type: 'text', text: 'answer: 42' }] },
    });
  });

  it('carries request facts in a typed context, never on the raw request, into the audit record', async () => {
    const headers = await openSession();
    const seen: IncomingMessage[] = [];
    const server = gh.apps.client.server;
    const watch = (request: IncomingMessage) => seen.push(request);
    server.on('request', watch);
    try {
      const answer = await post(
        {
          jsonrpc: '2.0',
          id: 5,
          method: 'tools/call',
          params: { name: 'fx__echo', arguments: { message: 'ctx' } },
        },
        headers,
      );
      expect(answer.status).toBe(200);
      await answer.text();
    } finally {
      server.off('request', watch);
    }
    expect(seen).toHaveLength(1);
    // Nothing about the request travels through the SDK's `auth` slot any more.
    expect((seen[0] as IncomingMessage & { auth?: unknown }).auth).toBeUndefined();
    const call = (await auditRows(gh, 'tool.call')).find(
      (row) => (row.details as { session?: string }).session === headers['mcp-session-id'],
    );
    expect(call).toBeDefined();
    expect(call?.request_id).toMatch(/.+/);
    expect(call?.ip).toMatch(/127\.0\.0\.1|::1/);
  });
});
