import { createRequire } from 'node:module';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  PromptListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_TOOL_NAMES, fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  createSignedInUser,
  failureOf,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { descendantPids, waitFor } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const everythingEntry = path.join(
  path.dirname(
    createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/package.json'),
  ),
  'dist/index.js',
);

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { type: string; text?: string }[])
    .map((block) => block.text ?? '')
    .join('');

describe('the MCP endpoint', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let childrenBefore: number[];
  const mcps: Record<string, string> = {};
  const users: Record<string, { id: string; client: PortalClient }> = {};
  const keys: Record<string, { id: string; key: string }> = {};
  let teamA: string;
  const open: Client[] = [];

  async function publish(
    slug: string,
    config: Parameters<PortalClient['catalog']['create']['mutate']>[0]['config'],
    groupIds: string[],
  ) {
    const created = await admin.catalog.create.mutate({ slug, name: slug, config, groupIds });
    await admin.catalog.validate.mutate({ id: created.id });
    await admin.catalog.discover.mutate({ id: created.id });
    await admin.catalog.publish.mutate({ id: created.id });
    return created.id;
  }

  async function connect(key: string, onListChanged?: () => void): Promise<Client> {
    const client = new Client({ name: 'endpoint-test', version: '1.0.0' });
    if (onListChanged) client.setNotificationHandler(ToolListChangedNotificationSchema, onListChanged);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    open.push(client);
    return client;
  }

  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${gh.clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body,
    });

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    teamA = (await admin.groups.create.mutate({ name: 'team-a', description: '' })).id;
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    mcps.fx = await publish(
      'fx',
      {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      [teamA],
    );
    mcps.everything = await publish(
      'everything',
      { connection: { transport: 'stdio', command: process.execPath, args: [everythingEntry, 'stdio'] } },
      [everyone],
    );
    for (const username of ['alice', 'bob']) {
      const { id, portal } = await createSignedInUser(gh, admin, username, PASSWORD);
      users[username] = { id, client: portal };
    }
    await admin.groups.addMember.mutate({ groupId: teamA, userId: users.alice?.id ?? '' });
    const alice = users.alice?.client as PortalClient;
    const bob = users.bob?.client as PortalClient;
    const aliceClient = await alice.clients.create.mutate({ name: 'Alice laptop', kind: 'claude-code' });
    keys.alice = { id: aliceClient.client.id, key: aliceClient.key };
    await alice.subscriptions.create.mutate({ clientId: aliceClient.client.id, mcpId: mcps.fx ?? '' });
    await alice.subscriptions.create.mutate({
      clientId: aliceClient.client.id,
      mcpId: mcps.everything ?? '',
      tools: ['echo', 'get-sum'],
    });
    const bobClient = await bob.clients.create.mutate({ name: 'Bob agent', kind: 'agent' });
    keys.bob = { id: bobClient.client.id, key: bobClient.key };
    await bob.subscriptions.create.mutate({ clientId: bobClient.client.id, mcpId: mcps.everything ?? '' });
  });

  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await gh.stop();
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  it('shows each client exactly its subscribed, granted, approved tools, prefixed by slug', async () => {
    const alice = await connect(keys.alice?.key ?? '');
    const aliceTools = (await alice.listTools()).tools.map((tool) => tool.name);
    expect(aliceTools).toEqual(
      [...FIXTURE_TOOL_NAMES.map((name) => `fx__${name}`), 'everything__echo', 'everything__get-sum'].sort(),
    );
    const bob = await connect(keys.bob?.key ?? '');
    const bobTools = (await bob.listTools()).tools;
    expect(bobTools.map((tool) => tool.name).every((name) => name.startsWith('everything__'))).toBe(true);
    // 13 always-registered tools plus the sampling and elicitation ones Gatehouse's declared capabilities unlock.
    expect(bobTools).toHaveLength(15);
    // Definitions reach the client intact, only renamed.
    const sum = bobTools.find((tool) => tool.name === 'everything__get-sum');
    expect(sum?.inputSchema.properties).toHaveProperty('a');
  });

  it('calls tools through Gatehouse: results, progress, structured content and tool errors', async () => {
    const alice = await connect(keys.alice?.key ?? '');
    expect(
      textOf(await alice.callTool({ name: 'fx__echo', arguments: { message: 'through the gate' } })),
    ).toBe('through the gate');
    const progress: number[] = [];
    const done = await alice.callTool({ name: 'fx__progress', arguments: { steps: 3 } }, undefined, {
      onprogress: (update) => progress.push(update.progress),
    });
    expect(textOf(done)).toBe('done 3');
    expect(progress).toEqual([1, 2, 3]);
    const toolError = await alice.callTool({
      name: 'fx__set-description',
      arguments: { tool: 'no-such-tool', description: 'x' },
    });
    expect(toolError.isError).toBe(true);
    expect(textOf(toolError)).toContain('unknown tool no-such-tool');

    // A client's cancellation travels to the downstream, which observes it.
    const controller = new AbortController();
    const sleeping = alice.callTool({ name: 'fx__sleep', arguments: { ms: 30_000 } }, undefined, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort('changed my mind'), 300);
    await expect(sleeping).rejects.toThrow();
    const observed = await waitFor(async () => {
      const list = JSON.parse(textOf(await alice.callTool({ name: 'fx__cancellations', arguments: {} })));
      return list.length > 0 ? list : null;
    }, 'the downstream to observe the cancellation');
    expect(observed[0].reason).toContain('changed my mind');

    const bob = await connect(keys.bob?.key ?? '');
    const structured = await bob.callTool({
      name: 'everything__get-structured-content',
      arguments: { location: 'New York' },
    });
    expect(structured.structuredContent).toHaveProperty('temperature');
    expect(textOf(await bob.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 3 } }))).toContain(
      '5',
    );
  });

  it('aggregates prompts and resources, routing reads back by rewritten URIs and only for visible MCPs', async () => {
    const alice = await connect(keys.alice?.key ?? '');
    const prompts = (await alice.listPrompts()).prompts.map((prompt) => prompt.name);
    expect(prompts).toContain('fx__greeting');
    const greeting = await alice.getPrompt({ name: 'fx__greeting', arguments: { name: 'Ada' } });
    expect(greeting.messages[0]?.content).toEqual({ type: 'text', text: 'Hello, Ada' });

    const resources = (await alice.listResources()).resources.map((resource) => resource.uri);
    expect(resources).toContain('gatehouse://fx/fixture://readme');
    const readme = await alice.readResource({ uri: 'gatehouse://fx/fixture://readme' });
    expect(readme.contents).toEqual([
      { uri: 'gatehouse://fx/fixture://readme', mimeType: 'text/plain', text: 'fixture readme' },
    ]);
    const templates = (await alice.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    expect(templates).toContain('gatehouse://fx/fixture://items/{id}');
    const item = await alice.readResource({ uri: 'gatehouse://fx/fixture://items/7' });
    expect(item.contents[0]).toMatchObject({ text: 'item 7' });

    const missingResource = await alice.readResource({ uri: 'gatehouse://fx/fixture://nope' }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(missingResource).not.toBeNull();
    expect((await auditRows(gh, 'resource.read')).at(-1)).toMatchObject({
      outcome: 'failure',
      details: expect.objectContaining({ uri: 'fixture://nope' }),
    });

    const bob = await connect(keys.bob?.key ?? '');
    expect((await bob.listPrompts()).prompts.map((p) => p.name)).not.toContain('fx__greeting');
    const hidden = await bob.readResource({ uri: 'gatehouse://fx/fixture://readme' }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(hidden).toContain('Resource not found');
    const unprefixed = await bob.readResource({ uri: 'fixture://readme' }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(unprefixed).toContain('Resource not found');
    const actions = (await auditRows(gh)).map((row) => [row.action, row.outcome]);
    expect(actions).toEqual(
      expect.arrayContaining([
        ['prompt.get', 'success'],
        ['resource.read', 'success'],
        ['resource.denied', 'denied'],
      ]),
    );
  });

  it('relays an elicitation from the downstream to the client that made the call, and back', async () => {
    const asking = new Client(
      { name: 'elicitation-test', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    );
    const questions: string[] = [];
    asking.setRequestHandler(ElicitRequestSchema, async (request) => {
      questions.push(String(request.params.message));
      return { action: 'accept', content: { answer: 'forty-two' } };
    });
    await asking.connect(
      new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${keys.alice?.key}` } },
      }),
    );
    open.push(asking);
    const answered = await asking.callTool({
      name: 'fx__ask',
      arguments: { question: 'The meaning of life?' },
    });
    expect(textOf(answered)).toBe('answer: forty-two');
    expect(questions).toEqual(['The meaning of life?']);

    // A client that cannot answer elicitations gets a tool error, never a hang or another session's prompt.
    const mute = await connect(keys.alice?.key ?? '');
    const refused = await mute.callTool({ name: 'fx__ask', arguments: { question: 'Anyone?' } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toContain('does not support elicitation/create');
    expect(questions).toHaveLength(1);
  });

  it('shortens names over 64 characters stably and maps them back on call', async () => {
    const longTool = 'summarize_the_quarterly_financial_statements_for_every_region';
    const id = await publish(
      'long-names-server',
      {
        connection: { transport: 'stdio', ...fixtureStdioCommand(), env: { FIXTURE_EXTRA_TOOL: longTool } },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      [teamA],
    );
    const alice = users.alice?.client as PortalClient;
    const subscription = await alice.subscriptions.create.mutate({
      clientId: keys.alice?.id ?? '',
      mcpId: id,
      tools: [longTool],
    });
    const client = await connect(keys.alice?.key ?? '');
    const names = (await client.listTools()).tools
      .map((tool) => tool.name)
      .filter((n) => n.startsWith('long-names'));
    expect(names).toHaveLength(1);
    const [name = ''] = names;
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).toMatch(/^long-names-server__summarize_the_quarterly_financial_st-[0-9a-f]{8}$/);
    expect(name).toHaveLength(64);
    expect(textOf(await client.callTool({ name, arguments: { message: 'mapped back' } }))).toBe(
      'mapped back',
    );
    await alice.subscriptions.remove.mutate({ id: subscription.id });
  });

  it('lists sessions for admins, ends them on DELETE or by an admin, and audits both ends', async () => {
    const client = await connect(keys.alice?.key ?? '');
    const transport = client.transport as StreamableHTTPClientTransport;
    const sessionId = transport.sessionId ?? '';
    const listed = (await admin.mcpSessions.list.query()).items.find((s) => s.id === sessionId);
    expect(listed).toMatchObject({ clientId: keys.alice?.id, username: 'alice', clientName: 'Alice laptop' });
    await transport.terminateSession();
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' });
    const headers = {
      authorization: `Bearer ${keys.alice?.key}`,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    };
    expect((await post(ping, headers)).status).toBe(404);

    const second = await connect(keys.alice?.key ?? '');
    const secondId = (second.transport as StreamableHTTPClientTransport).sessionId ?? '';
    await admin.mcpSessions.terminate.mutate({ id: secondId, reason: 'suspicious activity' });
    expect((await post(ping, { ...headers, 'mcp-session-id': secondId })).status).toBe(404);
    expect((await admin.mcpSessions.list.query()).items.map((s) => s.id)).not.toContain(secondId);
    const aliceUser = users.alice?.client as PortalClient;
    expect((await failureOf(aliceUser.mcpSessions.list.query())).code).toBe('FORBIDDEN');

    await waitFor(async () => (await auditRows(gh, 'mcp_session.end')).length >= 2, 'session end records');
    const ends = (await auditRows(gh, 'mcp_session.end')).map((row) => [row.details.session, row.reason]);
    expect(ends).toEqual(
      expect.arrayContaining([
        [sessionId, 'closed by the client'],
        [secondId, 'suspicious activity'],
      ]),
    );
    const starts = (await auditRows(gh, 'mcp_session.start')).map((row) => row.details.session);
    expect(starts).toEqual(expect.arrayContaining([sessionId, secondId]));
  });

  it('serves one MCP unprefixed at /mcp/<slug>, with the same authorization', async () => {
    const passthrough = async (key: string) => {
      const client = new Client({ name: 'passthrough-test', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp/fx`), {
          requestInit: { headers: { authorization: `Bearer ${key}` } },
        }),
      );
      open.push(client);
      return client;
    };
    const alice = await passthrough(keys.alice?.key ?? '');
    expect((await alice.listTools()).tools.map((tool) => tool.name).sort()).toEqual(FIXTURE_TOOL_NAMES);
    expect(textOf(await alice.callTool({ name: 'echo', arguments: { message: 'plain name' } }))).toBe(
      'plain name',
    );
    expect((await alice.listPrompts()).prompts.map((p) => p.name)).toEqual(['greeting']);
    const readme = await alice.readResource({ uri: 'fixture://readme' });
    expect(readme.contents[0]).toMatchObject({ uri: 'fixture://readme', text: 'fixture readme' });

    // A session belongs to the endpoint that opened it.
    const sessionId = (alice.transport as StreamableHTTPClientTransport).sessionId ?? '';
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' });
    const moved = await post(ping, {
      authorization: `Bearer ${keys.alice?.key}`,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    });
    expect(moved.status).toBe(404);

    const bob = await passthrough(keys.bob?.key ?? '');
    expect((await bob.listTools()).tools).toEqual([]);
    const refused = await bob.callTool({ name: 'echo', arguments: { message: 'x' } }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(refused).toContain('Unknown tool: echo');
  });

  it('lets a client resume a lost stream with Last-Event-ID, and only within its own session', async () => {
    const alice = { authorization: `Bearer ${keys.alice?.key}` };
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    const opened = await post(initialize, alice);
    const session = opened.headers.get('mcp-session-id') ?? '';
    await opened.text();
    const headers = { ...alice, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    await (
      await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers)
    ).text();
    const call = JSON.stringify({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'fx__progress', arguments: { steps: 3 }, _meta: { progressToken: 'p1' } },
    });
    const stream = await (await post(call, headers)).text();
    const events = stream
      .split(/\n\n/)
      .map((block) => ({
        id: /^id: (.+)$/m.exec(block)?.[1] ?? '',
        data: /^data: (.*)$/m.exec(block)?.[1] ?? '',
      }))
      .filter((event) => event.id);
    const firstProgress = events.find((event) => event.data.includes('"progress":1,'))?.id ?? '';
    expect(firstProgress).not.toBe('');

    // The client "lost" everything after the first progress event: replaying returns the rest, in order.
    const replay = async (sessionHeaders: Record<string, string>, lastEventId: string) => {
      const controller = new AbortController();
      const response = await fetch(`${gh.clientUrl}/mcp`, {
        method: 'GET',
        headers: { ...sessionHeaders, accept: 'text/event-stream', 'last-event-id': lastEventId },
        signal: controller.signal,
      });
      if (!response.ok || !response.body) return { status: response.status, text: '' };
      const reader = response.body.getReader();
      let text = '';
      const deadline = Date.now() + 2000;
      while (!text.includes('"id":2') && Date.now() < deadline) {
        const { value, done } = await Promise.race([
          reader.read(),
          new Promise<{ value: undefined; done: true }>((resolve) =>
            setTimeout(() => resolve({ value: undefined, done: true }), 500),
          ),
        ]);
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      controller.abort();
      return { status: response.status, text };
    };
    const resumed = await replay(headers, firstProgress);
    expect(resumed.status).toBe(200);
    expect(resumed.text).toContain('"progress":2');
    expect(resumed.text).toContain('"progress":3');
    expect(resumed.text).toContain('done 3');
    expect(resumed.text).not.toContain('"progress":1,');

    // Another session of the same client cannot replay this session's events.
    const other = await post(initialize, alice);
    const otherSession = other.headers.get('mcp-session-id') ?? '';
    await other.text();
    const foreign = await replay({ ...headers, 'mcp-session-id': otherSession }, firstProgress);
    expect(foreign.text).not.toContain('done 3');
  });

  it('answers "unknown tool" for tools the client may not see, and audits the denial', async () => {
    const bob = await connect(keys.bob?.key ?? '');
    const refused = await bob.callTool({ name: 'fx__echo', arguments: { message: 'x' } }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(refused).toContain('Unknown tool: fx__echo');
    const missing = await bob.callTool({ name: 'everything__nope', arguments: {} }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(missing).toContain('Unknown tool: everything__nope');
    // Hostile names are refused, and still audited without breaking the trail for anyone.
    const hostile = await bob.callTool({ name: `x\u0000${'y'.repeat(5000)}`, arguments: {} }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(hostile).toContain('Unknown tool');
    expect(
      textOf(await bob.callTool({ name: 'everything__echo', arguments: { message: 'still fine' } })),
    ).toContain('still fine');
    const denials = await auditRows(gh, 'tool.denied');
    expect(denials.map((row) => [row.actor_type, row.reason, row.details.tool])).toEqual(
      expect.arrayContaining([
        ['client', 'not subscribed', 'fx__echo'],
        ['client', 'no such tool', 'everything__nope'],
      ]),
    );
  });

  it('audits every call durably before answering: digest and sizes, never the arguments', async () => {
    const alice = await connect(keys.alice?.key ?? '');
    await alice.callTool({ name: 'fx__echo', arguments: { message: 'secret-argument-value' } });
    // No waiting: the record exists by the time the result arrived.
    const calls = await auditRows(gh, 'tool.call');
    const last = calls.at(-1);
    expect(last).toMatchObject({ actor_type: 'client', actor_user_id: users.alice?.id, outcome: 'success' });
    expect(last?.details).toMatchObject({
      tool: 'echo',
      status: 'ok',
      argsBytes: expect.any(Number),
      argsDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
      definitionHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(JSON.stringify(calls)).not.toContain('secret-argument-value');
    expect(gh.logs.join('\n')).not.toContain('secret-argument-value');

    // If the audit trail cannot be written, the call fails instead of going unrecorded.
    await gh.db.query(`create function gatehouse_test_refuse_audit() returns trigger language plpgsql as
      $$ begin raise exception 'audit store unavailable'; end $$`);
    await gh.db.query(`create trigger gatehouse_test_refuse before insert on audit_event
      for each row execute function gatehouse_test_refuse_audit()`);
    try {
      const refused = await alice.callTool({ name: 'fx__echo', arguments: { message: 'unaudited' } }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(refused).toContain('The call was refused because it could not be audited');
    } finally {
      await gh.db.query('drop trigger gatehouse_test_refuse on audit_event');
      await gh.db.query('drop function gatehouse_test_refuse_audit()');
    }
    expect(textOf(await alice.callTool({ name: 'fx__echo', arguments: { message: 'audited again' } }))).toBe(
      'audited again',
    );
  });

  it('enforces the transport rules: key, session binding, batches, protocol version, Origin, malformed JSON', async () => {
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    const noKey = await post(initialize, {});
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('www-authenticate')).toContain('Bearer');
    expect((await post(initialize, { authorization: 'Bearer gh_ck_notAKey' })).status).toBe(401);

    const alice = { authorization: `Bearer ${keys.alice?.key}` };
    const opened = await post(initialize, alice);
    expect(opened.status).toBe(200);
    const sessionId = opened.headers.get('mcp-session-id') ?? '';
    expect(sessionId).not.toBe('');
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const headers = { ...alice, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
    expect((await post(ping, headers)).status).toBe(200);
    // Bob's key with Alice's session id: as if the session did not exist.
    expect((await post(ping, { ...headers, authorization: `Bearer ${keys.bob?.key}` })).status).toBe(404);
    expect((await post(ping, { ...headers, 'mcp-session-id': 'no-such-session' })).status).toBe(404);
    expect((await post(ping, alice)).status).toBe(400);
    const batch = await post(`[${ping}]`, headers);
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as { error: { code: number } }).error.code).toBe(-32600);
    expect((await post(ping, { ...headers, 'mcp-protocol-version': '1999-01-01' })).status).toBe(400);
    expect((await post(ping, { ...headers, origin: 'https://evil.example' })).status).toBe(403);
    const malformed = await post('{"jsonrpc": "2.0", "id": 3, "method": ', headers);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: number } }).error.code).toBe(-32700);
    // The session survives all of that.
    expect((await post(ping, headers)).status).toBe(200);
  });

  it('kill switches stop an MCP (cancelling calls in flight), a client or a user on the next request', async () => {
    let changes = 0;
    const bob = await connect(keys.bob?.key ?? '', () => {
      changes++;
    });
    await bob.listTools();
    const inFlight = bob
      .callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 20, steps: 5 } })
      .then(
        (result) => (result.isError ? textOf(result) : 'completed'),
        (error: Error) => error.message,
      );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.killSwitches.engage.mutate({
      targetType: 'mcp',
      targetId: mcps.everything ?? '',
      reason: 'incident 42',
    });
    expect(await inFlight).toContain('killed by an admin: incident 42');
    await waitFor(() => changes >= 1, 'list_changed after the kill');
    expect((await bob.listTools()).tools).toEqual([]);
    const refused = await bob.callTool({ name: 'everything__echo', arguments: { message: 'x' } }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(refused).toContain('Tool call refused: mcp killed by an admin');
    expect(gh.runtime.list(mcps.everything)).toEqual([]);
    await admin.killSwitches.release.mutate({
      targetType: 'mcp',
      targetId: mcps.everything ?? '',
      reason: 'fixed',
    });
    expect(
      textOf(await bob.callTool({ name: 'everything__echo', arguments: { message: 'alive' } })),
    ).toContain('alive');

    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const bobKey = { authorization: `Bearer ${keys.bob?.key}` };
    await admin.killSwitches.engage.mutate({
      targetType: 'client',
      targetId: keys.bob?.id ?? '',
      reason: 'lost laptop',
    });
    expect((await post(ping, bobKey)).status).toBe(401);
    await admin.killSwitches.release.mutate({ targetType: 'client', targetId: keys.bob?.id ?? '' });
    await admin.killSwitches.engage.mutate({
      targetType: 'user',
      targetId: users.bob?.id ?? '',
      reason: 'offboarding',
    });
    expect((await post(ping, bobKey)).status).toBe(401);
    expect((await admin.killSwitches.list.query()).items.map((k) => k.targetType)).toEqual(['user']);
    await admin.killSwitches.release.mutate({ targetType: 'user', targetId: users.bob?.id ?? '' });

    const audited = (await auditRows(gh)).filter((row) => row.action.startsWith('kill_switch.'));
    expect(audited.map((row) => [row.action, row.reason])).toEqual([
      ['kill_switch.engage', 'incident 42'],
      ['kill_switch.release', 'fixed'],
      ['kill_switch.engage', 'lost laptop'],
      ['kill_switch.release', null],
      ['kill_switch.engage', 'offboarding'],
      ['kill_switch.release', null],
    ]);
    expect(
      (
        await failureOf(
          users.bob?.client.killSwitches.engage.mutate({
            targetType: 'user',
            targetId: users.alice?.id ?? '',
            reason: 'x',
          }) ?? Promise.resolve(),
        )
      ).code,
    ).toBe('FORBIDDEN');
  });

  it('applies every revocation on the next call and tells open sessions their tool list changed', async () => {
    let changes = 0;
    const alice = await connect(keys.alice?.key ?? '', () => {
      changes++;
    });
    await alice.listTools();
    let promptChanges = 0;
    alice.setNotificationHandler(PromptListChangedNotificationSchema, () => {
      promptChanges++;
    });
    await alice.listPrompts();
    const aliceClient = users.alice?.client as PortalClient;
    const subscription = (
      await aliceClient.subscriptions.list.query({ id: keys.alice?.id ?? '' })
    ).items.find((s) => s.mcpSlug === 'everything');

    // Unselecting a tool.
    await aliceClient.subscriptions.update.mutate({ id: subscription?.id ?? '', tools: ['echo'] });
    await waitFor(() => changes >= 1, 'list_changed after unselecting a tool');
    const unselected = await alice.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 1 } }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(unselected).toContain('Unknown tool');

    // Leaving the group that was granted the MCP.
    await admin.groups.removeMember.mutate({ groupId: teamA, userId: users.alice?.id ?? '' });
    await waitFor(() => changes >= 2, 'list_changed after leaving the group');
    expect((await alice.listTools()).tools.map((t) => t.name)).toEqual(['everything__echo']);
    await waitFor(() => promptChanges >= 1, 'prompts list_changed after leaving the group');
    expect((await alice.listPrompts()).prompts.map((p) => p.name)).not.toContain('fx__greeting');
    await admin.groups.addMember.mutate({ groupId: teamA, userId: users.alice?.id ?? '' });
    await waitFor(() => changes >= 3, 'list_changed after rejoining');
    expect((await alice.listTools()).tools.map((t) => t.name)).toContain('fx__echo');

    // Archiving the MCP.
    await admin.catalog.archive.mutate({ id: mcps.fx ?? '' });
    await waitFor(() => changes >= 4, 'list_changed after archiving');
    const archived = await alice.callTool({ name: 'fx__echo', arguments: { message: 'x' } }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(archived).toContain('Unknown tool');
    expect((await auditRows(gh, 'tool.denied')).at(-1)).toMatchObject({ reason: 'mcp archived' });

    // Suspending the client, then the user: the key stops working at once.
    await aliceClient.clients.suspend.mutate({ id: keys.alice?.id ?? '' });
    expect(
      await alice.callTool({ name: 'everything__echo', arguments: { message: 'x' } }).then(
        () => 'ok',
        () => 'refused',
      ),
    ).toBe('refused');
    await waitFor(
      async () =>
        (await auditRows(gh, 'client.auth_denied')).some((r) => r.reason === 'client suspended or revoked'),
      'the refused client to be audited',
    );
    await aliceClient.clients.reactivate.mutate({ id: keys.alice?.id ?? '' });
    const again = await connect(keys.alice?.key ?? '');
    expect(
      textOf(await again.callTool({ name: 'everything__echo', arguments: { message: 'back' } })),
    ).toContain('back');
    await admin.users.suspend.mutate({ id: users.alice?.id ?? '' });
    const suspendedUser = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }), {
      authorization: `Bearer ${keys.alice?.key}`,
    });
    expect(suspendedUser.status).toBe(401);
    await waitFor(
      async () => (await auditRows(gh, 'client.auth_denied')).some((r) => r.reason === 'user suspended'),
      'the refused user to be audited',
    );
  });

  it('manages clients and subscriptions with audited, typed errors', async () => {
    const bob = users.bob?.client as PortalClient;
    const rotated = await bob.clients.rotateKey.mutate({ id: keys.bob?.id ?? '' });
    expect(rotated.key).toMatch(/^gh_ck_[A-Za-z0-9]{43}$/);
    expect(
      (await post('{"jsonrpc":"2.0","id":1,"method":"ping"}', { authorization: `Bearer ${keys.bob?.key}` }))
        .status,
    ).toBe(401);
    expect(
      (
        await failureOf(
          bob.subscriptions.create.mutate({ clientId: keys.bob?.id ?? '', mcpId: mcps.fx ?? '' }),
        )
      ).code,
    ).toBe('NOT_FOUND');
    // Admins see every client, with when and from where it was last seen.
    const all = await admin.clients.list.query({ all: true });
    expect(all.items.find((c) => c.id === keys.alice?.id)).toMatchObject({
      username: 'alice',
      lastSeenAt: expect.any(String),
      lastSeenIp: '127.0.0.1',
    });
    expect((await failureOf(bob.clients.list.query({ all: true }))).code).toBe('FORBIDDEN');

    // An admin's suspension is not the owner's to lift.
    await admin.clients.suspend.mutate({ id: keys.bob?.id ?? '', reason: 'review' });
    const lifted = await failureOf(bob.clients.reactivate.mutate({ id: keys.bob?.id ?? '' }));
    expect(lifted).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringContaining('suspended by an admin'),
    });
    await admin.clients.reactivate.mutate({ id: keys.bob?.id ?? '' });
    const alienClient = await failureOf(bob.clients.suspend.mutate({ id: keys.alice?.id ?? '' }));
    expect(alienClient.code).toBe('NOT_FOUND');
    const badTool = await failureOf(
      bob.subscriptions.update.mutate({
        id: (await bob.subscriptions.list.query({ id: keys.bob?.id ?? '' })).items[0]?.id ?? '',
        tools: ['not-a-tool'],
      }),
    );
    expect(badTool).toMatchObject({
      code: 'VALIDATION_FAILED',
      fieldErrors: { tools: ['"not-a-tool" is not a tool of everything'] },
    });
    const actions = (await auditRows(gh)).map((row) => row.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'client.create',
        'client.rotate_key',
        'subscription.create',
        'subscription.update',
      ]),
    );
    // Sessions per client are capped: opening more replaces abandoned ones instead of accumulating.
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'flood', version: '1' },
      },
    });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      const response = await post(initialize, { authorization: `Bearer ${rotated.key}` });
      await response.text();
      statuses.push(response.status);
    }
    expect(statuses.every((status) => status === 200)).toBe(true);
    const sessions = (await admin.mcpSessions.list.query()).items;
    expect(sessions.filter((session) => session.clientId === keys.bob?.id)).toHaveLength(32);
    const rows = await gh.db.query<{ key_hash: string }>('select key_hash from mcp_client');
    expect(JSON.stringify(rows)).not.toContain(rotated.key);
  });
});
