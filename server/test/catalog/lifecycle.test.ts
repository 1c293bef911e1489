import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { McpConfigInput } from '@gatehouse/schema';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatehouse } from '../../src/main.js';
import { loadConfig } from '../../src/platform/config.js';
import { FIXTURE_TOOL_NAMES, fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  connectMcpClient,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { descendantPids, waitFor } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const FIXTURE_TOOLS = FIXTURE_TOOL_NAMES;

/** A registry `${NAME}` placeholder, written out literally. */
const placeholder = (name: string) => `\${${name}}`;

const fixtureConfig = (extra: Partial<McpConfigInput> = {}): McpConfigInput => ({
  connection: { transport: 'stdio', ...fixtureStdioCommand(), env: {} },
  timeouts: { connectMs: 20_000, callMs: 10_000 },
  ...extra,
});

describe('catalog lifecycle', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let adminId: string;

  let childrenBefore: number[];
  const open: Client[] = [];

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    adminId = (await admin.auth.me.query()).user.id;
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await gh.stop();
    // Shutting Gatehouse down reaps every downstream it started.
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  async function signedInUser(username: string, groupIds: string[] = []) {
    const user = await admin.users.create.mutate({
      username,
      displayName: username,
      email: `${username}@example.test`,
      password: PASSWORD,
      role: 'user',
    });
    for (const id of groupIds) await admin.groups.addMember.mutate({ groupId: id, userId: user.id });
    const client = portalClient(gh.portalUrl);
    await client.signIn(username, PASSWORD);
    return { user, client };
  }

  /** A user of the MCP's groups whose client is subscribed to it and calls through `/mcp`, as production does. */
  async function mcpCaller(username: string, mcpId: string, groupIds: string[]) {
    const { user, client: portal } = await signedInUser(username, groupIds);
    const created = await portal.clients.create.mutate({ name: `${username} agent`, kind: 'agent' });
    await portal.subscriptions.create.mutate({ clientId: created.client.id, mcpId });
    const mcp = await connectMcpClient(gh, created.key);
    open.push(mcp);
    return { user, mcp };
  }

  const fixtureUsers = async () =>
    (await admin.groups.list.query()).items.find((group) => group.name === 'fixture-users')?.id ?? '';

  it('runs create → validate → discover → publish through tRPC, auditing each step with its actor', async () => {
    const group = await admin.groups.create.mutate({ name: 'fixture-users', description: '' });
    const created = await admin.catalog.create.mutate({
      slug: 'fixture',
      name: 'Fixture',
      description: 'The test fixture',
      config: fixtureConfig(),
      groupIds: [group.id],
    });
    expect(created).toMatchObject({
      status: 'draft',
      liveVersion: null,
      candidateVersion: 1,
      transport: 'stdio',
    });
    expect(created.candidate?.validationStatus).toBe('pending');

    // Publishing before validation and discovery is refused and changes nothing.
    expect((await failureOf(admin.catalog.publish.mutate({ id: created.id }))).code).toBe(
      'PRECONDITION_FAILED',
    );
    expect((await failureOf(admin.catalog.discover.mutate({ id: created.id }))).message).toContain(
      'must pass validation before discovery',
    );

    expect(await admin.catalog.validate.mutate({ id: created.id })).toEqual({
      status: 'valid',
      problems: [],
    });
    const discovered = await admin.catalog.discover.mutate({ id: created.id });
    const discovery = discovered.candidate?.discovery;
    expect(discovery?.tools.map((tool) => tool.name).sort()).toEqual(FIXTURE_TOOLS);
    expect(discovery?.prompts.map((prompt) => prompt.name)).toEqual(['greeting']);
    expect(discovery?.resources.map((resource) => resource.uri)).toEqual(['fixture://readme']);
    expect(discovery?.resourceTemplates.map((template) => template.uriTemplate)).toEqual([
      'fixture://items/{id}',
    ]);
    expect(discovery?.serverInfo).toEqual({ name: 'gatehouse-fixture', version: '1.0.0' });
    expect(discovery?.protocolVersion).toBe('2025-11-25');
    expect(discovery?.tools.every((tool) => /^[0-9a-f]{64}$/.test(tool.hash))).toBe(true);

    const published = await admin.catalog.publish.mutate({ id: created.id });
    expect(published).toMatchObject({ status: 'published', liveVersion: 1, candidateVersion: null });
    const pins = await admin.catalog.pins.query({ id: created.id });
    expect(pins.items.filter((pin) => pin.kind === 'tool').map((pin) => pin.name)).toEqual(FIXTURE_TOOLS);
    expect(pins.items.every((pin) => pin.state === 'approved')).toBe(true);

    const actions = (await auditRows(gh))
      .filter((row) => row.target_id === created.id)
      .map((row) => [row.action, row.actor_user_id, row.outcome]);
    expect(actions).toEqual([
      ['mcp.create', adminId, 'success'],
      ['mcp.validate', adminId, 'success'],
      ['mcp.discover', adminId, 'success'],
      ['mcp.publish', adminId, 'success'],
    ]);

    // Published means visible to the granted group at once, and nobody else.
    const { client: member } = await signedInUser('member', [group.id]);
    const { client: outsider } = await signedInUser('outsider');
    const market = await member.catalog.marketplace.query();
    expect(market.items.map((entry) => entry.slug)).toEqual(['fixture']);
    expect(market.items[0]?.tools.map((tool) => tool.name)).toEqual(FIXTURE_TOOLS);
    expect(JSON.stringify(market)).not.toContain('fixture-server.ts');
    expect((await outsider.catalog.marketplace.query()).items).toEqual([]);
    // Users cannot administer the catalog.
    expect((await failureOf(member.catalog.list.query({}))).code).toBe('FORBIDDEN');
    expect(
      (await failureOf(member.catalog.create.mutate({ slug: 'sneaky', name: 'x', config: fixtureConfig() })))
        .code,
    ).toBe('FORBIDDEN');
  });

  it("sets an MCP's groups to exactly the given set: keeps, adds and removes grants", async () => {
    const [a, b, c] = await Promise.all(
      ['grants-a', 'grants-b', 'grants-c'].map((name) => admin.groups.create.mutate({ name })),
    );
    const mcp = await admin.catalog.create.mutate({
      slug: 'grants',
      name: 'Grants',
      config: { connection: { transport: 'stdio', ...fixtureStdioCommand() } },
      groupIds: [a?.id ?? ''],
    });
    const groupsOf = async () => [...(await admin.catalog.get.query({ id: mcp.id })).groupIds].sort();
    await admin.catalog.setGroups.mutate({ id: mcp.id, groupIds: [a?.id ?? '', b?.id ?? ''] });
    expect(await groupsOf()).toEqual([a?.id, b?.id].sort());
    await admin.catalog.setGroups.mutate({ id: mcp.id, groupIds: [b?.id ?? '', c?.id ?? ''] });
    expect(await groupsOf()).toEqual([b?.id, c?.id].sort());
    const audited = (await auditRows(gh, 'mcp.set_groups')).at(-1);
    expect(audited?.details).toEqual({ added: [c?.id], removed: [a?.id] });
  });

  it('reports precise validation errors for a broken config', async () => {
    const broken = await admin.catalog.create.mutate({
      slug: 'broken',
      name: 'Broken',
      config: {
        connection: {
          transport: 'stdio',
          command: 'definitely-not-a-command-gatehouse',
          args: ['--verbose'],
          env: { API_KEY: '{{credential:MISSING}}' },
          cwd: '/nonexistent/dir',
        },
        credentials: [
          { name: 'TOKEN', label: 'Token', inject: { into: 'header', name: 'authorization' } },
          { name: 'UNUSED', label: 'Unused' },
        ],
      },
    });
    const result = await admin.catalog.validate.mutate({ id: broken.id });
    expect(result.status).toBe('invalid');
    expect(result.problems).toEqual([
      { path: 'credentials.0.inject', message: 'a stdio MCP receives credentials as environment variables' },
      {
        path: 'connection.command',
        message: 'command "definitely-not-a-command-gatehouse" was not found on PATH',
      },
      { path: 'connection.env.API_KEY', message: 'references unknown credential "MISSING"' },
      { path: 'connection.cwd', message: '"/nonexistent/dir" is not an existing directory' },
      { path: 'credentials.1', message: 'credential "UNUSED" is never used: inject it or reference it' },
    ]);

    const http = await admin.catalog.create.mutate({
      slug: 'broken-http',
      name: 'Broken HTTP',
      config: { connection: { transport: 'streamable-http', url: 'ftp://example.test/mcp' } },
    });
    expect((await admin.catalog.validate.mutate({ id: http.id })).problems).toEqual([
      { path: 'connection.url', message: 'must use http or https' },
    ]);
    const detail = await admin.catalog.get.query({ id: broken.id });
    expect(detail.candidate?.validationStatus).toBe('invalid');
    expect(
      (await auditRows(gh, 'mcp.validate')).filter((row) => row.target_id === broken.id)[0]?.outcome,
    ).toBe('failure');
  });

  it('never stores a config that would expose a secret: command line, URL, literal tokens', async () => {
    const before = (await admin.catalog.list.query({})).items.length;
    const literalSecret = expect.stringContaining('looks like a secret but is a literal value');
    const onCommandLine = await failureOf(
      admin.catalog.create.mutate({
        slug: 'leaky-args',
        name: 'Leaky args',
        config: fixtureConfig({
          connection: {
            transport: 'stdio',
            command: 'node',
            args: ['--token', '{{credential:TOKEN}}'],
            env: { GITHUB_TOKEN: 'ghp_literal', LOG_LEVEL: 'debug' },
          },
          credentials: [{ name: 'TOKEN', label: 'Token' }],
        }),
      }),
    );
    expect(onCommandLine).toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      fieldErrors: {
        'config.connection.args.1': [
          expect.stringContaining('credentials must not appear on the command line'),
        ],
        'config.connection.env.GITHUB_TOKEN': [literalSecret],
      },
    });
    const inUrl = await failureOf(
      admin.catalog.create.mutate({
        slug: 'leaky-url',
        name: 'Leaky URL',
        config: {
          connection: {
            transport: 'streamable-http',
            url: 'https://user:pw@example.test/mcp',
            headers: { Authorization: 'Bearer literal-token', 'x-team': 'platform' },
          },
        },
      }),
    );
    expect(inUrl.fieldErrors).toEqual({
      'config.connection.url': ['must not contain credentials; use a credential field injected as a header'],
      'config.connection.headers.Authorization': [literalSecret],
    });
    const fixture = (await admin.catalog.list.query({})).items.find((item) => item.slug === 'fixture');
    const update = await failureOf(
      admin.catalog.update.mutate({
        id: fixture?.id ?? '',
        config: fixtureConfig({
          connection: { transport: 'stdio', ...fixtureStdioCommand(), env: { OPENAI_API_KEY: 'sk-literal' } },
        }),
      }),
    );
    expect(update.fieldErrors).toEqual({ 'config.connection.env.OPENAI_API_KEY': [literalSecret] });
    const nul = await failureOf(
      admin.catalog.create.mutate({ slug: 'nul', name: 'bad\u0000name', config: fixtureConfig() }),
    );
    expect(nul).toMatchObject({
      code: 'VALIDATION_FAILED',
      fieldErrors: { name: ['must not contain NUL characters'] },
    });
    expect((await admin.catalog.list.query({})).items).toHaveLength(before);
    expect(JSON.stringify(await gh.db.query('select config from mcp_version'))).not.toContain('literal');
  });

  it('rejects bad input with typed 4xx errors and changes nothing', async () => {
    const before = await admin.catalog.list.query({});
    const badSlug = await failureOf(
      admin.catalog.create.mutate({ slug: 'Bad Slug!', name: 'x', config: fixtureConfig() }),
    );
    expect(badSlug).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(badSlug.fieldErrors?.slug).toBeDefined();
    const duplicate = await failureOf(
      admin.catalog.create.mutate({ slug: 'fixture', name: 'x', config: fixtureConfig() }),
    );
    expect(duplicate).toMatchObject({
      code: 'CONFLICT',
      status: 409,
      fieldErrors: { slug: ['is already taken'] },
    });
    const unknownGroup = await failureOf(
      admin.catalog.create.mutate({
        slug: 'nogroup',
        name: 'x',
        config: fixtureConfig(),
        groupIds: ['grp_doesNotExist12345'],
      }),
    );
    expect(unknownGroup).toMatchObject({
      code: 'VALIDATION_FAILED',
      fieldErrors: { 'groupIds.0': expect.any(Array) },
    });
    const missing = await failureOf(admin.catalog.get.query({ id: 'mcp_doesNotExist1234' }));
    expect(missing).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect((await admin.catalog.list.query({})).items).toEqual(before.items);
  });

  it('discovers with a temporary credential that is provably never persisted or logged', async () => {
    const secret = 'temporary-discovery-secret-9f8e7d';
    const needsKey = await admin.catalog.create.mutate({
      slug: 'needs-key',
      name: 'Needs a key',
      config: fixtureConfig({
        isolation: 'per-user',
        credentials: [
          { name: 'API_KEY', label: 'API key', inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' } },
        ],
        connection: { transport: 'stdio', ...fixtureStdioCommand(), env: { FIXTURE_STDERR_CREDENTIAL: '1' } },
      }),
    });
    await admin.catalog.validate.mutate({ id: needsKey.id });
    const withoutKey = await failureOf(admin.catalog.discover.mutate({ id: needsKey.id }));
    expect(withoutKey).toMatchObject({
      code: 'VALIDATION_FAILED',
      fieldErrors: { 'temporaryCredentials.API_KEY': ['is required'] },
    });
    const discovered = await admin.catalog.discover.mutate({
      id: needsKey.id,
      temporaryCredentials: { API_KEY: secret },
    });
    expect(discovered.candidate?.discovery?.tools.length).toBe(FIXTURE_TOOLS.length);

    // Look everywhere the secret could have been written: every row of every table, and every log line.
    const tables = await gh.db.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
    );
    for (const { table_name } of tables) {
      const rows = await gh.db.query<{ row: string }>(`select t::text as row from "${table_name}" t`);
      expect(
        rows.filter((r) => r.row.includes(secret)),
        table_name,
      ).toEqual([]);
      expect(
        rows.filter((r) => r.row.includes(secret.slice(0, 16))),
        table_name,
      ).toEqual([]);
    }
    expect(gh.logs.filter((line) => line.includes(secret))).toEqual([]);
  });

  it('keeps the live version serving while an edit is validated and discovered, then switches on publish', async () => {
    const mcp = (await admin.catalog.list.query({})).items.find((item) => item.slug === 'fixture');
    if (!mcp) throw new Error('fixture MCP missing');
    const caller = await mcpCaller('live-version-user', mcp.id, [await fixtureUsers()]);
    const call = () => caller.mcp.callTool({ name: 'fixture__echo', arguments: { message: 'hi' } });
    expect((await call()).content).toEqual([{ type: 'text', text: 'hi' }]);
    const livePid = gh.runtime.list(mcp.id)[0]?.pid;

    const edited = await admin.catalog.update.mutate({
      id: mcp.id,
      description: 'Now with a longer call timeout',
      config: fixtureConfig({ timeouts: { connectMs: 20_000, callMs: 15_000 } }),
    });
    expect(edited).toMatchObject({ status: 'published', liveVersion: 1, candidateVersion: 2 });
    expect(edited.candidate?.validationStatus).toBe('pending');
    expect((await failureOf(admin.catalog.publish.mutate({ id: mcp.id }))).message).toContain(
      'has not passed validation',
    );
    // The live version keeps serving from the same process meanwhile.
    expect((await call()).content).toEqual([{ type: 'text', text: 'hi' }]);
    expect(gh.runtime.list(mcp.id)[0]?.pid).toBe(livePid);

    await admin.catalog.validate.mutate({ id: mcp.id });
    await admin.catalog.discover.mutate({ id: mcp.id });
    const republished = await admin.catalog.publish.mutate({ id: mcp.id });
    expect(republished).toMatchObject({ liveVersion: 2, candidateVersion: null });
    expect((await call()).content).toEqual([{ type: 'text', text: 'hi' }]);
    const instances = gh.runtime.list(mcp.id);
    expect(instances.map((i) => i.versionId)).toEqual([republished.live?.id]);
    expect(instances[0]?.pid).not.toBe(livePid);
    const publishAudit = (await auditRows(gh, 'mcp.publish'))
      .filter((row) => row.target_id === mcp.id)
      .at(-1);
    expect(publishAudit?.details).toMatchObject({ version: 2, previousVersion: 1 });
  });

  it('imports a registry document (JSON or YAML) and exports it back', async () => {
    const { command, args } = fixtureStdioCommand();
    const yaml = [
      'mcpServers:',
      '  Imported Fixture:',
      `    command: ${JSON.stringify(command)}`,
      `    args: ${JSON.stringify(args)}`,
      '    env:',
      `      FIXTURE_CREDENTIAL: "${placeholder('FIXTURE_TOKEN')}"`,
    ].join('\n');
    const imported = await admin.catalog.import.mutate({ document: yaml });
    expect(imported).toMatchObject({ slug: 'imported-fixture', name: 'Imported Fixture', status: 'draft' });
    const config = imported.candidate?.config;
    expect(config?.connection).toMatchObject({
      transport: 'stdio',
      env: { FIXTURE_CREDENTIAL: '{{credential:FIXTURE_TOKEN}}' },
    });
    expect(config?.credentials).toEqual([
      expect.objectContaining({ name: 'FIXTURE_TOKEN', secret: true, required: true, inject: null }),
    ]);
    expect((await admin.catalog.validate.mutate({ id: imported.id })).status).toBe('valid');

    const exported = await admin.catalog.export.query({ id: imported.id });
    const document = JSON.parse(exported.document);
    expect(document.mcpServers['imported-fixture']).toMatchObject({
      command,
      args,
      env: { FIXTURE_CREDENTIAL: placeholder('FIXTURE_TOKEN') },
    });
    const again = await admin.catalog.import.mutate({ document: exported.document, slug: 'reimported' });
    expect(again.candidate?.config).toEqual(config);
    expect((await auditRows(gh, 'mcp.import')).map((row) => row.target_id)).toEqual([imported.id, again.id]);
    expect((await auditRows(gh, 'mcp.export')).map((row) => row.target_id)).toEqual([imported.id]);

    const countBefore = (await admin.catalog.list.query({})).items.length;
    const notADocument = await failureOf(admin.catalog.import.mutate({ document: '{ "mcpServers": {} }' }));
    expect(notADocument).toMatchObject({
      code: 'VALIDATION_FAILED',
      fieldErrors: { 'document.mcpServers': ['must hold exactly one server (found 0)'] },
    });
    const placeholderInArgs = await failureOf(
      admin.catalog.import.mutate({
        document: JSON.stringify({ name: 'x', command: 'node', args: [placeholder('SECRET')] }),
      }),
    );
    expect(placeholderInArgs.fieldErrors).toEqual({
      'document.args.0': ['placeholders are only supported in env and headers'],
    });
    expect((await failureOf(admin.catalog.import.mutate({ document: ': : not yaml [' }))).code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await admin.catalog.list.query({})).items).toHaveLength(countBefore);
  });

  it('archives: hidden from the marketplace, calls refused, instances stopped, history kept', async () => {
    const group = await admin.groups.create.mutate({ name: 'archive-users', description: '' });
    const { user, client } = await signedInUser('archiver', [group.id]);
    const mcp = await admin.catalog.create.mutate({
      slug: 'to-archive',
      name: 'To archive',
      config: fixtureConfig(),
      groupIds: [group.id],
    });
    await admin.catalog.validate.mutate({ id: mcp.id });
    await admin.catalog.discover.mutate({ id: mcp.id });
    await admin.catalog.publish.mutate({ id: mcp.id });
    const created = await client.clients.create.mutate({ name: 'archiver agent', kind: 'agent' });
    await client.subscriptions.create.mutate({ clientId: created.client.id, mcpId: mcp.id });
    const agent = await connectMcpClient(gh, created.key);
    open.push(agent);
    const echo = () => agent.callTool({ name: 'to-archive__echo', arguments: { message: 'x' } });
    expect((await echo()).content).toEqual([{ type: 'text', text: 'x' }]);
    expect(gh.runtime.list(mcp.id)).toHaveLength(1);
    expect((await client.catalog.marketplace.query()).items.map((entry) => entry.slug)).toEqual([
      'to-archive',
    ]);

    await admin.catalog.archive.mutate({ id: mcp.id, reason: 'replaced by another server' });
    expect(gh.runtime.list(mcp.id)).toEqual([]);
    expect((await client.catalog.marketplace.query()).items).toEqual([]);
    const refused = await echo().then(
      () => null,
      (error: Error) => error.message,
    );
    // The client is not told more than that the tool does not exist; the trail records why, and nothing
    // was started to serve it.
    expect(refused).toContain('Unknown tool: to-archive__echo');
    expect((await auditRows(gh, 'tool.denied')).at(-1)).toMatchObject({
      actor_user_id: user.id,
      reason: 'mcp archived',
      target_id: mcp.id,
    });
    expect(gh.runtime.list(mcp.id)).toEqual([]);
    expect((await agent.listTools()).tools).toEqual([]);
    const detail = await admin.catalog.get.query({ id: mcp.id });
    expect(detail).toMatchObject({ status: 'archived', liveVersion: 1 });
    expect((await auditRows(gh, 'mcp.archive')).at(-1)).toMatchObject({
      target_id: mcp.id,
      reason: 'replaced by another server',
      actor_user_id: adminId,
    });
  });

  it('lets admins see, restart and stop instances, with stderr, each action audited', async () => {
    const mcp = (await admin.catalog.list.query({})).items.find((item) => item.slug === 'fixture');
    if (!mcp) throw new Error('fixture MCP missing');
    const caller = await mcpCaller('instances-user', mcp.id, [await fixtureUsers()]);
    await caller.mcp.callTool({ name: 'fixture__echo', arguments: { message: 'x' } });
    const [instance] = (await admin.runtime.instances.query({ mcpId: mcp.id })).items;
    expect(instance).toMatchObject({
      state: 'ready',
      healthy: true,
      slug: 'fixture',
      userId: null,
      restarts: 0,
    });
    expect(instance?.uptimeSeconds).toBeGreaterThanOrEqual(0);
    const logs = await admin.runtime.logs.query({ key: instance?.key ?? '' });
    expect(logs.lines.map((line) => line.text)).toEqual([
      expect.stringMatching(/^fixture ready pid=\d+ mode=stdio$/),
    ]);

    const restarted = await admin.runtime.restart.mutate({ key: instance?.key ?? '', reason: 'testing' });
    expect(restarted).toMatchObject({ state: 'ready' });
    expect(restarted.pid).not.toBe(instance?.pid);
    await admin.runtime.stop.mutate({ key: instance?.key ?? '' });
    expect((await admin.runtime.instances.query({ mcpId: mcp.id })).items).toEqual([]);
    expect((await failureOf(admin.runtime.stop.mutate({ key: instance?.key ?? '' }))).code).toBe('NOT_FOUND');
    const audited = (await auditRows(gh)).filter((row) => row.action.startsWith('runtime.'));
    expect(audited.map((row) => [row.action, row.actor_user_id, row.reason])).toEqual([
      ['runtime.restart', adminId, 'testing'],
      ['runtime.stop', adminId, null],
    ]);
  });

  it('starts an eager shared MCP as soon as it is published', async () => {
    const eager = await admin.catalog.create.mutate({
      slug: 'eager',
      name: 'Eager',
      config: fixtureConfig({ startMode: 'eager' }),
    });
    await admin.catalog.validate.mutate({ id: eager.id });
    await admin.catalog.discover.mutate({ id: eager.id });
    expect(gh.runtime.list(eager.id)).toEqual([]);
    await admin.catalog.publish.mutate({ id: eager.id });
    await waitFor(() => gh.runtime.list(eager.id)[0]?.state === 'ready', 'the eager start');

    // A Gatehouse starting on this database starts it too, without waiting for a first call.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-second-'));
    const second = await startGatehouse(
      loadConfig({
        DATABASE_URL: gh.db.url,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_CLIENT_PORT: '0',
        GATEHOUSE_PORTAL_PORT: '0',
        GATEHOUSE_LOG_LEVEL: 'silent',
      }),
    );
    try {
      await waitFor(() => second.runtime.list(eager.id)[0]?.state === 'ready', 'the eager start at boot');
    } finally {
      await second.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
    await admin.catalog.archive.mutate({ id: eager.id });
  });

  it('discovers @modelcontextprotocol/server-everything: tools, prompts and resource templates', async () => {
    const require = createRequire(import.meta.url);
    const entry = path.join(
      path.dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
      'dist/index.js',
    );
    const everything = await admin.catalog.create.mutate({
      slug: 'everything',
      name: 'Everything',
      config: { connection: { transport: 'stdio', command: process.execPath, args: [entry, 'stdio'] } },
    });
    expect((await admin.catalog.validate.mutate({ id: everything.id })).status).toBe('valid');
    const discovery = (await admin.catalog.discover.mutate({ id: everything.id })).candidate?.discovery;
    expect(discovery?.tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['echo', 'get-env', 'get-sum', 'trigger-long-running-operation']),
    );
    // 13 always-registered tools plus the sampling and elicitation ones our declared capabilities unlock.
    expect(discovery?.tools).toHaveLength(15);
    expect(discovery?.prompts.map((prompt) => prompt.name)).toEqual(
      expect.arrayContaining(['simple-prompt', 'args-prompt']),
    );
    expect(discovery?.resourceTemplates.length).toBeGreaterThan(0);
    expect(discovery?.capabilities).toHaveProperty('tools');
  });

  it('follows pagination cursors during discovery', async () => {
    const paged = await admin.catalog.create.mutate({
      slug: 'paged',
      name: 'Paged',
      config: {
        connection: { transport: 'stdio', ...fixtureStdioCommand(), env: { FIXTURE_PAGE_SIZE: '3' } },
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
    });
    await admin.catalog.validate.mutate({ id: paged.id });
    const discovery = (await admin.catalog.discover.mutate({ id: paged.id })).candidate?.discovery;
    expect(discovery?.tools.map((tool) => tool.name).sort()).toEqual(FIXTURE_TOOLS);
  });

  it('negotiates protocol revisions 2025-11-25 back to 2025-03-26 and refuses older servers clearly', async () => {
    const serverSpeaking = async (slug: string, version: string) => {
      const mcp = await admin.catalog.create.mutate({
        slug,
        name: slug,
        config: {
          connection: {
            transport: 'stdio',
            ...fixtureStdioCommand(),
            env: { FIXTURE_PROTOCOL_VERSION: version },
          },
          timeouts: { connectMs: 20_000, callMs: 10_000 },
        },
      });
      await admin.catalog.validate.mutate({ id: mcp.id });
      return mcp.id;
    };
    const oldest = await admin.catalog.discover.mutate({
      id: await serverSpeaking('speaks-2025-03', '2025-03-26'),
    });
    expect(oldest.candidate?.discovery?.protocolVersion).toBe('2025-03-26');

    const tooOld = await serverSpeaking('speaks-2024-11', '2024-11-05');
    const refused = await failureOf(admin.catalog.discover.mutate({ id: tooOld }));
    expect(refused).toMatchObject({
      code: 'DOWNSTREAM_FAILED',
      status: 502,
      message:
        'Discovery of "speaks-2024-11" failed: the server speaks MCP 2024-11-05; Gatehouse needs 2025-03-26 or newer',
    });
    expect((await auditRows(gh, 'mcp.discover')).find((row) => row.target_id === tooOld)).toMatchObject({
      outcome: 'failure',
      reason: 'the server speaks MCP 2024-11-05; Gatehouse needs 2025-03-26 or newer',
    });
  });
});
