import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { McpInstance } from '../../src/runtime/instance.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  createSignedInUser,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const conformanceServer = path.join(import.meta.dirname, '../fixtures/conformance-server.ts');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

type Answer = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } };

/** The JSON-RPC messages of a body, whether plain JSON or SSE. */
async function messagesOf(response: Response): Promise<Answer[]> {
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) return [JSON.parse(text)];
  return [...text.matchAll(/^data: (.+)$/gm)].map((match) => JSON.parse(match[1] ?? '{}') as Answer);
}

/** Reads an SSE body until `until` holds for one of its messages; returns that message. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (message: Answer & { method?: string }) => boolean,
): Promise<Answer & { method?: string }> {
  let text = '';
  for (;;) {
    const found = [...text.matchAll(/^data: (.+)$/gm)]
      .map((match) => JSON.parse(match[1] ?? '{}') as Answer & { method?: string })
      .find(until);
    if (found) return found;
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before the expected message: ${text}`);
    text += new TextDecoder().decode(value);
  }
}

/**
 * A bare Streamable HTTP MCP server that records the params of every `completion/complete` it receives, to
 * see exactly what Gatehouse forwards (the SDK's server would not show `_meta`).
 */
function startRecordingServer(completions: Record<string, unknown>[]): Promise<Server> {
  const results: Record<string, object> = {
    initialize: {
      protocolVersion: '2025-06-18',
      capabilities: { completions: {}, resources: {} },
      serverInfo: { name: 'recorder', version: '1' },
    },
    ping: {},
    'tools/list': { tools: [] },
    'prompts/list': { prompts: [] },
    'resources/list': { resources: [] },
    'resources/templates/list': { resourceTemplates: [] },
    'completion/complete': { completion: { values: ['done'] } },
  };
  const server = createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(req.method === 'DELETE' ? 200 : 405).end();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id?: number | string;
        method: string;
        params?: Record<string, unknown>;
      };
      if (message.id === undefined) return void res.writeHead(202).end();
      if (message.method === 'completion/complete') completions.push(message.params ?? {});
      const result = results[message.method];
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'recorder' });
      res.end(
        JSON.stringify(
          result
            ? { jsonrpc: '2.0', id: message.id, result }
            : { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'Method not found' } },
        ),
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Fixes for the reviewer's findings on the `/mcp` data plane, each against a real Gatehouse and real MCPs. */
describe('/mcp review fixes', () => {
  let gh: TestGatehouse;
  let key = '';
  let recorder: Server;
  const completions: Record<string, unknown>[] = [];

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

  const initialize = (capabilities: object = {}) =>
    post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'raw', version: '1' } },
    });

  async function openSession(capabilities: object = {}): Promise<Record<string, string>> {
    const opened = await initialize(capabilities);
    expect(opened.status).toBe(200);
    await opened.text();
    const headers = {
      'mcp-session-id': opened.headers.get('mcp-session-id') ?? '',
      'mcp-protocol-version': '2025-11-25',
    };
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
    return headers;
  }

  const request = async (headers: Record<string, string>, id: number, method: string, params: object) =>
    (await messagesOf(await post({ jsonrpc: '2.0', id, method, params }, headers))).at(-1) as Answer;

  /** The running instance of MCP `slug` (shared: these MCPs are not per user). */
  const instanceOf = (slug: string) =>
    [...(gh.runtime as unknown as { instances: Map<string, McpInstance> }).instances.values()].find(
      (instance) => instance.spec.slug === slug,
    ) as McpInstance;

  /** The session `id` as the endpoint holds it. */
  const sessionOf = (id: string) =>
    (
      gh.mcp as unknown as { sessions: { get(id: string): { awaitingCount: number } | undefined } }
    ).sessions.get(id);

  beforeAll(async () => {
    gh = await startTestGatehouse();
    recorder = await startRecordingServer(completions);
    const admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    const publish = async (
      slug: string,
      config: Parameters<typeof admin.catalog.create.mutate>[0]['config'],
    ) => {
      const created = await admin.catalog.create.mutate({ slug, name: slug, config, groupIds: [everyone] });
      await admin.catalog.validate.mutate({ id: created.id });
      await admin.catalog.discover.mutate({ id: created.id });
      await admin.catalog.publish.mutate({ id: created.id });
      return created.id;
    };
    const ids = [
      await publish('conf', {
        connection: {
          transport: 'stdio',
          command: process.execPath,
          args: ['--import', tsxLoader, conformanceServer, 'stdio'],
        },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      }),
      await publish('fx', {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      }),
      // Its calls time out at the shortest allowed bound, so a call can end while the client is being asked.
      await publish('brief', {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000, callMs: 1_000 },
      }),
      await publish('rec', {
        connection: {
          transport: 'streamable-http',
          url: `http://127.0.0.1:${(recorder.address() as AddressInfo).port}/mcp`,
        },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      }),
      // Per user with OAuth: until the user connects their account, it cannot serve them.
      await publish('oa', {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        isolation: 'per-user',
        oauth: {
          authorizationEndpoint: 'https://as.example.test/authorize',
          tokenEndpoint: 'https://as.example.test/token',
          clientId: 'gatehouse',
          scopes: [],
          inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' },
        },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      }),
    ];
    const { portal } = await createSignedInUser(gh, admin, 'rev', PASSWORD);
    const made = await portal.clients.create.mutate({ name: 'review client', kind: 'agent' });
    for (const mcpId of ids) await portal.subscriptions.create.mutate({ clientId: made.client.id, mcpId });
    key = made.key;
  }, 60_000);

  afterAll(async () => {
    await gh.stop();
    await new Promise((resolve) => recorder.close(resolve));
  });

  it('holds the subscription cap and one listener per session under parallel subscribes', async () => {
    const headers = await openSession();
    const watched = 'gatehouse://conf/test://watched-resource';
    // Ten parallel subscribes of one URI: one downstream listener for the session, not ten.
    const same = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        request(headers, 100 + index, 'resources/subscribe', { uri: watched }),
      ),
    );
    expect(same.every((answer) => answer.error === undefined)).toBe(true);
    const instance = instanceOf('conf');
    expect(instance.resourceSubscribers('test://watched-resource')).toBe(1);
    // 101 parallel subscribes of distinct URIs: the cap of 100 (the one above included) holds.
    const distinct = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        request(headers, 200 + index, 'resources/subscribe', { uri: `gatehouse://conf/test://r/${index}` }),
      ),
    );
    expect(distinct.filter((answer) => answer.error === undefined)).toHaveLength(99);
    expect(distinct.filter((answer) => answer.error?.code === -32600)).toHaveLength(1);
    const row = await gh.db.query<{ subscriptions: string[] }>('select subscriptions from mcp_session');
    expect(row.map((r) => r.subscriptions.length)).toContain(100);
    // Ending the session removes every listener it held.
    const ended = await fetch(`${gh.clientUrl}/mcp`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}`, ...headers },
    });
    expect(ended.status).toBeLessThan(300);
    expect(instance.resourceSubscribers('test://watched-resource')).toBe(0);
    expect(instance.resourceSubscribers('test://r/0')).toBe(0);
  });

  it('refuses a subscribe URI the session cannot store before subscribing downstream, as invalid params', async () => {
    const headers = await openSession();
    const long = `gatehouse://conf/test://${'x'.repeat(2_100)}`;
    const tooLong = await request(headers, 2, 'resources/subscribe', { uri: long });
    expect(tooLong.error?.code).toBe(-32602);
    const lone = await fetch(`${gh.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: '{"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{"uri":"gatehouse://conf/test://\\ud800"}}',
    });
    const loneAnswer = (await messagesOf(lone)).at(-1);
    expect(loneAnswer?.error?.code).toBe(-32602);
    // Nothing was subscribed downstream, and the session stores nothing.
    const instance = instanceOf('conf');
    expect(instance.resourceSubscribers(`test://${'x'.repeat(2_100)}`)).toBe(0);
    expect(instance.resourceSubscribers('test://\ud800')).toBe(0);
    const rows = await gh.db.query<{ subscriptions: string[] }>('select subscriptions from mcp_session');
    expect(
      rows.some((row) => row.subscriptions.some((uri) => uri.includes('xxxx') || uri.includes('\ud800'))),
    ).toBe(false);
  });

  it('releases the wait for the client when the call that asked ends', async () => {
    const headers = await openSession({ elicitation: {} });
    const answer = await post(
      {
        jsonrpc: '2.0',
        id: 5,
        method: 'tools/call',
        params: { name: 'brief__ask', arguments: { question: 'Q?' } },
      },
      headers,
    );
    const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
    const asked = await readUntil(reader, (message) => message.method === 'elicitation/create');
    expect(asked.id).toBeDefined();
    // Nobody answers: the call times out and ends.
    const ended = await readUntil(reader, (message) => message.id === 5);
    expect(ended.error ?? ended.result).toBeDefined();
    expect(sessionOf(headers['mcp-session-id'] ?? '')?.awaitingCount).toBe(0);
  });

  it('refuses a request reusing the id of one in flight, and the first stays cancellable', async () => {
    const headers = await openSession({ elicitation: {} });
    const first = await post(
      {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'fx__ask', arguments: { question: 'Q?' } },
      },
      headers,
    );
    const reader = (first.body as ReadableStream<Uint8Array>).getReader();
    await readUntil(reader, (message) => message.method === 'elicitation/create');
    const reused = await request(headers, 9, 'ping', {});
    expect(reused.error?.code).toBe(-32600);
    expect(reused.error?.message).toContain('in flight');
    // The client cancels the first call: it ends, and its wait for the client with it.
    const cancelled = await post(
      {
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 9, reason: 'changed my mind' },
      },
      headers,
    );
    expect(cancelled.status).toBe(202);
    const ended = await readUntil(reader, (message) => message.id === 9);
    expect(ended.error ?? ended.result).toBeDefined();
    expect(sessionOf(headers['mcp-session-id'] ?? '')?.awaitingCount).toBe(0);
    // The id is free again once its request ended.
    expect((await request(headers, 9, 'ping', {})).result).toEqual({});
  });

  it('answers initialize with typed errors when the session row cannot be written for the client', async () => {
    const refuse = async (errcode: string) => {
      await gh.db.query(`create or replace function gatehouse_test_refuse_session() returns trigger
        language plpgsql as $$ begin raise exception 'refused' using errcode = '${errcode}'; end $$`);
      await gh.db.query(`create trigger gatehouse_test_refuse_session before insert on mcp_session
        for each row execute function gatehouse_test_refuse_session()`);
      try {
        const before = await gh.db.query('select 1 from mcp_session');
        const opened = await initialize();
        const body = (await opened.json()) as Answer;
        const after = await gh.db.query('select 1 from mcp_session');
        expect(after).toHaveLength(before.length);
        return { status: opened.status, code: body.error?.code };
      } finally {
        await gh.db.query('drop trigger gatehouse_test_refuse_session on mcp_session');
      }
    };
    // The key's client was deleted meanwhile: 401, as for any key that no longer works.
    expect(await refuse('foreign_key_violation')).toEqual({ status: 401, code: -32001 });
    // A session id taken already: a retryable 503.
    expect(await refuse('unique_violation')).toEqual({ status: 503, code: -32000 });
    expect(gh.logs.join('\n')).not.toContain('"statusCode":500');
  });

  it('forwards only the fields of a completion, never the _meta of the client', async () => {
    const headers = await openSession();
    const answer = await request(headers, 11, 'completion/complete', {
      ref: { type: 'ref/resource', uri: 'gatehouse://rec/test://items/{id}' },
      argument: { name: 'id', value: '1' },
      context: { arguments: { other: 'x' } },
      _meta: { progressToken: 'client-token' },
    });
    expect(answer.result).toEqual({ completion: { values: ['done'] } });
    expect(completions.at(-1)).toEqual({
      ref: { type: 'ref/resource', uri: 'test://items/{id}' },
      argument: { name: 'id', value: '1' },
      context: { arguments: { other: 'x' } },
    });
  });

  it('answers requests to an MCP the user has not connected as invalid requests, audited', async () => {
    const headers = await openSession();
    const before = await auditRows(gh);
    const prompt = await request(headers, 21, 'prompts/get', {
      name: 'oa__greeting',
      arguments: { name: 'x' },
    });
    const read = await request(headers, 22, 'resources/read', { uri: 'gatehouse://oa/fixture://readme' });
    const subscribe = await request(headers, 23, 'resources/subscribe', {
      uri: 'gatehouse://oa/fixture://readme',
    });
    const completion = await request(headers, 24, 'completion/complete', {
      ref: { type: 'ref/prompt', name: 'oa__greeting' },
      argument: { name: 'name', value: 'x' },
    });
    for (const answer of [prompt, read, subscribe, completion]) {
      expect(answer.error?.code).toBe(-32600);
      expect(answer.error?.message).toContain('oa');
    }
    const added = (await auditRows(gh)).slice(before.length);
    expect(added.map((row) => [row.action, row.outcome])).toEqual(
      expect.arrayContaining([
        ['prompt.get', 'failure'],
        ['resource.read', 'failure'],
      ]),
    );
    // Nothing was started for the user, and no subscription was kept.
    expect(gh.runtime.list().filter((instance) => instance.slug === 'oa')).toEqual([]);
    const rows = await gh.db.query<{ subscriptions: string[] }>('select subscriptions from mcp_session');
    expect(rows.some((row) => row.subscriptions.some((uri) => uri.startsWith('gatehouse://oa/')))).toBe(
      false,
    );
    expect(gh.logs.join('\n')).not.toContain('MCP request handler failed');
  });
});
