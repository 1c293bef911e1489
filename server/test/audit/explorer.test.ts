import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/chain.js';
import { AuditBatcher } from '../../src/audit/group-commit.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { AnchoredClock, TEST_NOW } from '../support/clock.js';
import {
  type AuditRowView,
  auditRows,
  connectMcpClient,
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const run = promisify(execFile);
const serverDir = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'explorer-Passw0rd!';
const DAY = 86_400_000;
const clock = new AnchoredClock(TEST_NOW);

interface GraphqlAnswer<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; fieldErrors?: Record<string, string[]> } }[];
}

describe('the audit explorer (GraphQL, export)', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let batcher: AuditBatcher;
  const tokens: Record<string, string> = {};
  const people: Record<string, { id: string; portal: PortalClient }> = {};
  let fxId: string;
  let aliceClientId: string;
  let bobClientId: string;
  const open: Client[] = [];
  const workDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-explorer-'));
  /** Synthetic tool calls three days ago, with known durations, statuses and sizes. */
  const synthetic = { start: 0, durations: [] as number[], errors: 0, bytes: 0 };

  async function graphql<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    as: { bearer?: string; cookie?: string } = {},
  ): Promise<GraphqlAnswer<T>> {
    const response = await fetch(`${gh.portalUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: gh.portalUrl,
        ...(as.bearer && { authorization: `Bearer ${as.bearer}` }),
        ...(as.cookie && { cookie: as.cookie }),
      },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, ...((await response.json()) as object) };
  }

  const asAuditor = () => ({ bearer: tokens.auditor });
  const asAlice = () => ({ cookie: people.alice?.portal.state.cookie });

  function syntheticCall(index: number, occurredAt: Date, overrides: Partial<AuditRecord> = {}): AuditRecord {
    const durationMs = index + 1;
    const status = index % 10 === 0 ? 'tool_error' : 'ok';
    const resultBytes = 100 + index;
    return {
      action: 'tool.call',
      occurredAt,
      actorType: 'client',
      actorUserId: people.bob?.id ?? null,
      actorTokenId: null,
      actorClientId: bobClientId,
      actorLabel: 'bob/Bob agent',
      targetType: 'mcp',
      targetId: fxId,
      targetLabel: 'fx',
      outcome: 'success',
      reason: null,
      ip: '127.0.0.1',
      requestId: `synthetic-${index}`,
      details: { tool: 'synthetic', status, durationMs, resultBytes, definitionHash: 'c'.repeat(64) },
      ...overrides,
    };
  }

  beforeAll(async () => {
    gh = await startTestGatehouse({}, { clock });
    admin = await setUpAdmin(gh);
    tokens.admin = (await admin.apiTokens.create.mutate({ name: 'explorer admin' })).token;
    for (const username of ['alice', 'bob', 'ada']) {
      people[username] = await createSignedInUser(gh, admin, username, PASSWORD);
    }
    await admin.users.update.mutate({ id: people.ada?.id ?? '', role: 'auditor' });
    const auditor = people.ada?.portal as PortalClient;
    tokens.auditor = (await auditor.apiTokens.create.mutate({ name: 'siem' })).token;
    const everyone = (await admin.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'fx',
      name: 'Fixture',
      config: {
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        timeouts: { connectMs: 20_000 },
      },
      groupIds: [everyone],
    });
    fxId = created.id;
    await admin.catalog.validate.mutate({ id: fxId });
    await admin.catalog.discover.mutate({ id: fxId });
    await admin.catalog.publish.mutate({ id: fxId });

    const alice = people.alice?.portal as PortalClient;
    const aliceClient = await alice.clients.create.mutate({ name: 'Alice laptop', kind: 'claude-code' });
    aliceClientId = aliceClient.client.id;
    await alice.subscriptions.create.mutate({
      clientId: aliceClientId,
      mcpId: fxId,
      tools: ['echo', 'whoami'],
    });
    const bob = people.bob?.portal as PortalClient;
    const bobClient = await bob.clients.create.mutate({ name: 'Bob agent', kind: 'agent' });
    bobClientId = bobClient.client.id;
    await bob.subscriptions.create.mutate({ clientId: bobClientId, mcpId: fxId });

    const aliceMcp = await connectMcpClient(gh, aliceClient.key);
    const bobMcp = await connectMcpClient(gh, bobClient.key);
    open.push(aliceMcp, bobMcp);
    await aliceMcp.callTool({ name: 'fx__echo', arguments: { message: 'one' } });
    await aliceMcp.callTool({ name: 'fx__echo', arguments: { message: 'two' } });
    await aliceMcp.callTool({ name: 'fx__whoami', arguments: {} });
    await aliceMcp.callTool({ name: 'fx__sleep', arguments: { ms: 1 } }).catch(() => undefined);
    await bobMcp.callTool({ name: 'fx__echo', arguments: { message: 'bob' } });

    batcher = new AuditBatcher(gh.db.url);
    synthetic.start = Math.floor((TEST_NOW.getTime() - 3 * DAY) / DAY) * DAY + 3_600_000;
    // Three days back can be last month (or year): history older than the server keeps ready, as an import
    // would bring it, so its months are created first (what `gatehouse audit partitions` does).
    await gh.db.query('select audit_ensure_partitions($1, $2)', [new Date(synthetic.start), TEST_NOW]);
    await Promise.all(
      Array.from({ length: 100 }, (_, index) => {
        const record = syntheticCall(index, new Date(synthetic.start + index * 60_000));
        const details = record.details as { durationMs: number; status: string; resultBytes: number };
        synthetic.durations.push(details.durationMs);
        if (details.status !== 'ok') synthetic.errors += 1;
        synthetic.bytes += details.resultBytes;
        return batcher.append(record);
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await batcher?.close();
    await gh.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  const EVENT_FIELDS = `id time type decision outcome callStatus reason durationMs resultBytes toolDefinitionHash
    ip requestId hash prevHash actor { type label user { id username } client { id name } apiToken { id name } }
    target { type id mcp { id slug } toolName tool { name } user { id } group { id } client { id } }`;

  interface EventNode {
    id: string;
    type: string;
    decision: string | null;
    outcome: string;
    callStatus: string | null;
    reason: string | null;
    durationMs: number | null;
    actor: { type: string; user: { id: string; username: string } | null; client: { id: string } | null };
    target: {
      mcp: { id: string; slug: string } | null;
      toolName: string | null;
      tool: { name: string } | null;
    };
    hash: string;
    prevHash: string;
  }

  async function allEvents(
    filter: Record<string, unknown>,
    as: { bearer?: string; cookie?: string },
    first = 200,
  ): Promise<EventNode[]> {
    const nodes: EventNode[] = [];
    let after: string | null = null;
    for (;;) {
      const answer: GraphqlAnswer<{
        auditEvents: { edges: { node: EventNode }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
      }> = await graphql(
        `query($filter: AuditEventFilter, $first: Int, $after: String) {
          auditEvents(filter: $filter, first: $first, after: $after) {
            edges { node { ${EVENT_FIELDS} } } pageInfo { hasNextPage endCursor } } }`,
        { filter, first, after },
        as,
      );
      expect(answer.errors).toBeUndefined();
      const page = answer.data?.auditEvents;
      nodes.push(...(page?.edges.map((edge) => edge.node) ?? []));
      if (!page?.pageInfo.hasNextPage) return nodes;
      after = page.pageInfo.endCursor;
    }
  }

  const ids = (rows: { id: string }[]) => rows.map((row) => String(row.id));
  const newestFirst = (rows: AuditRowView[]) => ids(rows).sort((a, b) => Number(b) - Number(a));

  it('refuses callers without a session or token, and cross-site cookie requests', async () => {
    const anonymous = await graphql('{ me { id } }');
    expect(anonymous).toMatchObject({ status: 401, errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    const badToken = await graphql('{ me { id } }', {}, { bearer: 'gh_not-a-token' });
    expect(badToken.status).toBe(401);
    const crossSite = await fetch(`${gh.portalUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: 'https://evil.example',
        cookie: people.alice?.portal.state.cookie ?? '',
      },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(crossSite.status).toBe(403);
    const schema = await graphql<{ __schema: { mutationType: unknown; queryType: { name: string } } }>(
      '{ __schema { mutationType { name } queryType { name } } }',
      {},
      asAlice(),
    );
    expect(schema.data?.__schema).toEqual({ mutationType: null, queryType: { name: 'Query' } });
  });

  it('shows auditors every event, with actors and targets resolved', async () => {
    const rows = await auditRows(gh);
    const events = await allEvents({}, asAuditor(), 50);
    expect(ids(events)).toEqual(newestFirst(rows));
    const aliceCall = events.find(
      (event) =>
        event.type === 'tool.call' &&
        event.actor.user?.username === 'alice' &&
        event.target.toolName === 'echo',
    );
    expect(aliceCall).toMatchObject({
      decision: 'ALLOW',
      outcome: 'SUCCESS',
      callStatus: 'OK',
      actor: { type: 'client', client: { id: aliceClientId } },
      target: { mcp: { id: fxId, slug: 'fx' }, toolName: 'echo', tool: { name: 'echo' } },
    });
    expect(aliceCall?.durationMs).toBeGreaterThan(0);
    const denied = events.find((event) => event.type === 'tool.denied');
    expect(denied).toMatchObject({ decision: 'DENY', outcome: 'DENIED', callStatus: 'DENIED' });
    expect(denied?.reason).toBe('tool not selected');
  });

  it('filters by time, type, actor, MCP, tool, decision, outcome and reason words', async () => {
    const rows = await auditRows(gh);
    const at = (row: AuditRowView) => (row as unknown as { occurred_at: Date }).occurred_at.getTime();
    const cases: [Record<string, unknown>, (row: AuditRowView) => boolean][] = [
      [{ types: ['tool.call'] }, (row) => row.action === 'tool.call'],
      [
        { types: ['tool.call', 'tool.denied'], actorUserId: people.alice?.id },
        (row) => ['tool.call', 'tool.denied'].includes(row.action) && row.actor_user_id === people.alice?.id,
      ],
      [
        { actorClientId: bobClientId },
        (row) => (row as unknown as { actor_client_id: string }).actor_client_id === bobClientId,
      ],
      [
        { mcpId: fxId, tool: 'synthetic' },
        (row) => row.target_id === fxId && row.details.tool === 'synthetic',
      ],
      [{ decision: 'DENY' }, (row) => row.outcome === 'denied'],
      [{ outcomes: ['DENIED', 'FAILURE'] }, (row) => row.outcome === 'denied' || row.outcome === 'failure'],
      [{ reasonSearch: 'not selected' }, (row) => (row.reason ?? '').includes('not selected')],
      [
        {
          since: new Date(synthetic.start).toISOString(),
          until: new Date(synthetic.start + 30 * 60_000).toISOString(),
        },
        (row) => at(row) >= synthetic.start && at(row) < synthetic.start + 30 * 60_000,
      ],
    ];
    for (const [filter, matches] of cases) {
      const expected = newestFirst(rows.filter(matches));
      expect(expected.length, JSON.stringify(filter)).toBeGreaterThan(0);
      expect(ids(await allEvents(filter, asAuditor(), 7)), JSON.stringify(filter)).toEqual(expected);
    }
    const allowed = await allEvents({ decision: 'ALLOW', types: ['tool.call'] }, asAuditor());
    expect(allowed.length).toBe(rows.filter((row) => row.action === 'tool.call').length);
  });

  it('keeps pages stable while events are appended: nothing repeats, nothing is skipped', async () => {
    const before = newestFirst(await auditRows(gh));
    let stop = false;
    let appended = 0;
    const writer = (async () => {
      while (!stop) {
        await batcher.append(syntheticCall(appended, clock.now(), { requestId: `concurrent-${appended}` }));
        appended += 1;
      }
    })();
    const seen: string[] = [];
    let after: string | null = null;
    try {
      for (;;) {
        const answer: GraphqlAnswer<{
          auditEvents: {
            edges: { node: { id: string } }[];
            pageInfo: { hasNextPage: boolean; endCursor: string };
          };
        }> = await graphql(
          'query($after: String) { auditEvents(first: 9, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }',
          { after },
          asAuditor(),
        );
        const page = answer.data?.auditEvents;
        seen.push(...(page?.edges.map((edge) => edge.node.id) ?? []));
        if (!page?.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
    } finally {
      stop = true;
      await writer;
    }
    expect(appended).toBeGreaterThan(0);
    // The first page started at the newest event then; everything older appears exactly once, in order.
    const firstSeen = Number(seen[0]);
    expect(seen).toEqual([...new Set(seen)]);
    expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));
    expect(seen.filter((id) => Number(id) <= Number(before[0]))).toEqual(before);
    expect(firstSeen).toBeGreaterThanOrEqual(Number(before[0]));
  });

  it('shows a user only their own events and usage, through every field and relation', async () => {
    const rows = await auditRows(gh);
    const own = newestFirst(rows.filter((row) => row.actor_user_id === people.alice?.id));
    const events = await allEvents({}, asAlice(), 5);
    expect(ids(events)).toEqual(own);
    expect(new Set(events.map((event) => event.actor.user?.id))).toEqual(new Set([people.alice?.id]));
    expect(await allEvents({ actorUserId: people.bob?.id }, asAlice())).toEqual([]);
    expect(await allEvents({ actorClientId: bobClientId }, asAlice())).toEqual([]);

    const usage = await graphql<{ usage: { userId: string; calls: number }[] }>(
      '{ usage(groupBy: [USER], bucket: WEEK) { userId calls } }',
      {},
      asAlice(),
    );
    expect(usage.data?.usage.map((point) => point.userId)).toEqual([people.alice?.id]);
    const top = await graphql<{
      topUsers: { userId: string }[];
      topTools: { tool: string; calls: number }[];
    }>('{ topUsers { userId } topTools { tool calls } }', {}, asAlice());
    expect(top.data?.topUsers.map((point) => point.userId)).toEqual([people.alice?.id]);
    expect(top.data?.topTools.map((point) => point.tool).sort()).toEqual(['echo', 'sleep', 'whoami']);
    const chain = await graphql('{ auditChainStatus { intact } }', {}, asAlice());
    expect(chain).toMatchObject({ status: 403, errors: [{ extensions: { code: 'FORBIDDEN' } }] });
    const export_ = await fetch(`${gh.portalUrl}/api/audit/export`, {
      headers: { cookie: people.alice?.portal.state.cookie ?? '' },
    });
    expect(export_.status).toBe(403);
  });

  it('resolves relations with one batched query per kind, however many events (no N+1)', async () => {
    const query = `query($first: Int) { auditEvents(first: $first) { edges { node {
      actor { user { username groups { name } } client { name user { username } } apiToken { name createdBy { id } } }
      target { mcp { slug tools { name mcp { slug } } } tool { name mcp { slug } } user { username } group { name } client { name } }
    } } } }`;
    const statementsFor = async (first: number) => {
      const before = gh.audit.explorer.reader.statements;
      const answer = await graphql<{ auditEvents: { edges: unknown[] } }>(query, { first }, asAuditor());
      expect(answer.errors).toBeUndefined();
      return {
        statements: gh.audit.explorer.reader.statements - before,
        events: answer.data?.auditEvents.edges.length,
      };
    };
    const few = await statementsFor(3);
    const many = await statementsFor(200);
    expect(many.events).toBeGreaterThan(100);
    expect(many.statements).toBeLessThanOrEqual(few.statements + 2);
    expect(many.statements).toBeLessThanOrEqual(12);
  });

  it('rejects abusive queries with a clear error before running them', async () => {
    const deep = await graphql(
      '{ auditEvents { edges { node { target { mcp { tools { mcp { tools { mcp { tools { name } } } } } } } } } } }',
      {},
      asAuditor(),
    );
    expect(deep.status).toBe(400);
    expect(deep.errors?.[0]?.message).toMatch(/depth/i);
    const aliases = Array.from({ length: 30 }, (_, index) => `a${index}: me { id }`).join(' ');
    const aliased = await graphql(`{ ${aliases} }`, {}, asAuditor());
    expect(aliased.status).toBe(400);
    expect(aliased.errors?.[0]?.message).toMatch(/alias/i);
    const costly = await graphql('{ auditEvents(first: 5000) { edges { cursor } } }', {}, asAuditor());
    expect(costly).toMatchObject({ status: 400, errors: [{ extensions: { code: 'VALIDATION_FAILED' } }] });
    expect(costly.errors?.[0]?.message).toMatch(/cost limit/i);
    const oversized = await graphql('{ auditEvents(first: 201) { edges { cursor } } }', {}, asAuditor());
    expect(oversized).toMatchObject({ status: 400, errors: [{ extensions: { code: 'VALIDATION_FAILED' } }] });
    expect(oversized.errors?.[0]?.extensions?.fieldErrors).toHaveProperty(['page.first']);
    const badType = await graphql(
      '{ auditEvents(filter: { types: ["drop table"] }) { edges { cursor } } }',
      {},
      asAuditor(),
    );
    expect(badType).toMatchObject({ status: 400, errors: [{ extensions: { code: 'VALIDATION_FAILED' } }] });
    const badCursor = await graphql('{ auditEvents(after: "bm9wZQ") { edges { cursor } } }', {}, asAuditor());
    expect(badCursor).toMatchObject({ status: 400, errors: [{ extensions: { code: 'VALIDATION_FAILED' } }] });
    const tooFine = await graphql(
      '{ usage(bucket: MINUTE, filter: { since: "2026-01-01T00:00:00Z", until: "2026-06-01T00:00:00Z" }) { calls } }',
      {},
      asAuditor(),
    );
    expect(tooFine).toMatchObject({ status: 400, errors: [{ extensions: { code: 'VALIDATION_FAILED' } }] });
  });

  it('aggregates usage per tool and day with counts, error rate, percentiles and bytes', async () => {
    const since = new Date(synthetic.start - 3_600_000 + 1234).toISOString();
    const until = new Date(synthetic.start + DAY).toISOString();
    const query = `query($filter: UsageFilter) { usage(groupBy: [TOOL], bucket: DAY, filter: $filter) {
      bucketStart tool calls errors denied errorRate p50Ms p95Ms p99Ms resultBytes } }`;
    const answer = await graphql<{ usage: Record<string, unknown>[] }>(
      query,
      { filter: { since, until, tool: 'synthetic' } },
      asAuditor(),
    );
    expect(answer.errors).toBeUndefined();
    const points = answer.data?.usage ?? [];
    expect(points).toHaveLength(1);
    const sorted = [...synthetic.durations].sort((a, b) => a - b);
    const exact = (q: number) => sorted[Math.ceil(q * sorted.length) - 1] as number;
    const point = points[0] as Record<string, number>;
    expect(point).toMatchObject({
      tool: 'synthetic',
      bucketStart: new Date(Math.floor(synthetic.start / DAY) * DAY).toISOString(),
      calls: 100,
      errors: synthetic.errors,
      denied: 0,
      errorRate: synthetic.errors / 100,
      resultBytes: synthetic.bytes,
    });
    for (const [field, q] of [
      ['p50Ms', 0.5],
      ['p95Ms', 0.95],
      ['p99Ms', 0.99],
    ] as const) {
      expect(Math.abs((point[field] as number) - exact(q)) / exact(q), field).toBeLessThanOrEqual(0.05);
    }
    // The same question answered from the events alone (a user filter bypasses the rollup) agrees exactly.
    const fromEvents = await graphql<{ usage: Record<string, unknown>[] }>(
      query,
      { filter: { since, until, tool: 'synthetic', actorUserId: people.bob?.id } },
      asAuditor(),
    );
    expect(fromEvents.data?.usage).toEqual(points);

    // People's usage comes from the actor rollups; per day it equals the events counted minute by minute.
    const window = {
      since: new Date(synthetic.start).toISOString(),
      until: new Date(synthetic.start + 2 * 3_600_000).toISOString(),
    };
    type Point = {
      bucketStart: string;
      userId: string;
      outcome: string;
      calls: number;
      errors: number;
      resultBytes: number;
      p50Ms: number;
    };
    const fields = 'bucketStart userId outcome calls errors resultBytes p50Ms';
    const perHour = await graphql<{ usage: Point[] }>(
      `query($filter: UsageFilter) { usage(groupBy: [USER, OUTCOME], bucket: HOUR, filter: $filter) { ${fields} } }`,
      { filter: window },
      asAuditor(),
    );
    const perMinute = await graphql<{ usage: Point[] }>(
      `query($filter: UsageFilter) { usage(groupBy: [USER, OUTCOME], bucket: MINUTE, filter: $filter) { ${fields} } }`,
      { filter: window },
      asAuditor(),
    );
    const summed = new Map<string, { calls: number; errors: number; resultBytes: number }>();
    for (const point of perMinute.data?.usage ?? []) {
      const key = `${new Date(Math.floor(Date.parse(point.bucketStart) / 3_600_000) * 3_600_000).toISOString()}|${point.userId}|${point.outcome}`;
      const total = summed.get(key) ?? { calls: 0, errors: 0, resultBytes: 0 };
      summed.set(key, {
        calls: total.calls + point.calls,
        errors: total.errors + point.errors,
        resultBytes: total.resultBytes + point.resultBytes,
      });
    }
    expect(perHour.data?.usage.length).toBeGreaterThan(0);
    expect(
      new Map(
        perHour.data?.usage.map((point) => [
          `${point.bucketStart}|${point.userId}|${point.outcome}`,
          { calls: point.calls, errors: point.errors, resultBytes: point.resultBytes },
        ]),
      ),
    ).toEqual(summed);

    const byOutcome = await graphql<{ usage: { outcome: string; calls: number }[] }>(
      `query($filter: UsageFilter) { usage(groupBy: [OUTCOME], bucket: HOUR, filter: $filter) { outcome calls } }`,
      { filter: { since, until, tool: 'synthetic' } },
      asAuditor(),
    );
    const totals = new Map<string, number>();
    for (const p of byOutcome.data?.usage ?? [])
      totals.set(p.outcome, (totals.get(p.outcome) ?? 0) + p.calls);
    expect(Object.fromEntries(totals)).toEqual({ OK: 100 - synthetic.errors, TOOL_ERROR: synthetic.errors });

    const top = await graphql<{
      topTools: { tool: string; calls: number }[];
      topUsers: { userId: string }[];
    }>('{ topTools(limit: 2) { tool calls } topUsers(limit: 1) { userId } }', {}, asAuditor());
    expect(top.data?.topTools[0]).toMatchObject({ tool: 'synthetic' });
    expect(top.data?.topTools).toHaveLength(2);
    expect(top.data?.topUsers).toEqual([{ userId: people.bob?.id }]);
  });

  it('reports the chain as verified up to the current head', async () => {
    await batcher.drain();
    const [head] = await gh.db.query<{ last_seq: string }>('select last_seq from audit_chain_head');
    const answer = await graphql<{ auditChainStatus: { intact: boolean; verifiedThrough: number } }>(
      '{ auditChainStatus { intact verifiedThrough checkpointThrough checkedAt } }',
      {},
      asAuditor(),
    );
    expect(answer.data?.auditChainStatus).toMatchObject({ intact: true, checkpointThrough: 0 });
    expect(answer.data?.auditChainStatus.verifiedThrough).toBeGreaterThanOrEqual(Number(head?.last_seq));
  });

  async function cliVerifyFile(file: string) {
    try {
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', 'src/cli.ts', 'audit', 'verify', '--file', file],
        {
          cwd: serverDir,
          env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
        },
      );
      return { code: 0, stdout };
    } catch (error) {
      const failed = error as { code: number; stdout: string };
      return { code: failed.code, stdout: failed.stdout };
    }
  }

  it('exports JSONL that verifies on its own, audits the export, and catches tampering', async () => {
    await batcher.drain();
    const response = await fetch(`${gh.portalUrl}/api/audit/export?format=jsonl`, {
      headers: { authorization: `Bearer ${tokens.auditor}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const body = await response.text();
    const lines = body.trim().split('\n');
    const rows = await auditRows(gh);
    const exportedIds = lines.map((line) => (JSON.parse(line) as { id: number }).id);
    expect(exportedIds[0]).toBe(1);
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines.slice(0, 3))
      expect(Object.keys(JSON.parse(line))).toEqual(expect.arrayContaining(['hash', 'prevHash', 'details']));
    const exportAudit = (await auditRows(gh, 'audit.export')).at(-1);
    expect(exportAudit).toMatchObject({ actor_type: 'api_token', actor_user_id: people.ada?.id });
    expect(exportAudit?.details).toMatchObject({ fromId: 1, throughId: exportedIds.at(-1) });
    expect(rows.length).toBeGreaterThanOrEqual(lines.length);

    const file = path.join(workDir, 'export.jsonl');
    writeFileSync(file, body);
    const verified = await cliVerifyFile(file);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(
      `audit chain intact: ${lines.length} event(s) verified, from the genesis`,
    );

    const tampered = lines.map((line, index) =>
      index === 5 ? line.replace(/"outcome":"[a-z]+"/, '"outcome":"denied"') : line,
    );
    expect(tampered[5]).not.toBe(lines[5]);
    writeFileSync(file, `${tampered.join('\n')}\n`);
    const broken = await cliVerifyFile(file);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`BROKEN at event ${exportedIds[5]}`);

    // A time range exports whole links: it verifies from the anchor its first line names.
    const ranged = await fetch(
      `${gh.portalUrl}/api/audit/export?since=${encodeURIComponent(new Date(synthetic.start + 10 * 60_000).toISOString())}&until=${encodeURIComponent(new Date(synthetic.start + 20 * 60_000).toISOString())}`,
      { headers: { authorization: `Bearer ${tokens.admin}` } },
    );
    const rangedLines = (await ranged.text()).trim().split('\n');
    expect(rangedLines).toHaveLength(10);
    writeFileSync(file, `${rangedLines.join('\n')}\n`);
    const partial = await cliVerifyFile(file);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toContain('10 event(s) verified');

    const badRange = await fetch(`${gh.portalUrl}/api/audit/export?since=yesterday`, {
      headers: { authorization: `Bearer ${tokens.auditor}` },
    });
    expect(badRange.status).toBe(400);
    writeFileSync(file, 'not json\n');
    expect(await cliVerifyFile(file)).toMatchObject({ code: 1 });
    expect(readFileSync(file, 'utf8')).toBe('not json\n');
    // Four CLI processes, each starting tsx: generous on a busy 2-core machine.
  }, 120_000);

  it('serves GraphiQL to auditors and admins in the browser, under a CSP that allows only its own scripts', async () => {
    const page = await fetch(`${gh.portalUrl}/graphql`, {
      headers: { accept: 'text/html', authorization: `Bearer ${tokens.auditor}` },
    });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Gatehouse audit explorer');
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(policy).not.toContain("unsafe-inline'; script");
    const userPage = await fetch(`${gh.portalUrl}/graphql`, {
      headers: { accept: 'text/html', cookie: people.alice?.portal.state.cookie ?? '' },
    });
    expect(await userPage.text()).not.toContain('Gatehouse audit explorer');
  });

  it('renders GraphiQL in a real browser without a CSP violation, and runs a query from it', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-sync',
      ],
    });
    try {
      const context = await browser.newContext({
        extraHTTPHeaders: { authorization: `Bearer ${tokens.auditor}` },
      });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`${gh.portalUrl}/graphql?query=${encodeURIComponent('{ me { username } }')}`);
      await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
      const answer = page.waitForResponse(
        (response) =>
          response.url().includes('/graphql') &&
          response.request().method() === 'POST' &&
          (response.request().postData() ?? '').includes('me'),
      );
      await page.locator('.graphiql-execute-button').click();
      expect(await (await answer).json()).toEqual({ data: { me: { username: 'ada' } } });
      expect(problems.filter((text) => /content security policy|refused/i.test(text))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
