import pg from 'pg';
import { seedAuditEvents } from './audit-seed.js';
import { distribution } from './load.js';
import { benchDatabase, startGatehouseProcess, temporaryDataDir } from './processes.js';
import { provision } from './provision.js';

export interface ExplorerOptions {
  events: number;
  /** The seeded events span this many days, ending now. */
  days: number;
  /** Timed runs per query, after one untimed warm-up. */
  runs: number;
  databaseUrl: string | undefined;
  log: (line: string) => void;
}

export const defaultExplorerOptions = { events: 1_000_000, days: 30, runs: 15 };

export interface ExplorerQueryResult {
  name: string;
  /** Whether the issue sets a target (≤ 300 ms) for this query. */
  target: boolean;
  /** Milliseconds over HTTP, authentication and GraphQL included. */
  p50: number;
  p95: number;
  max: number;
  /** Items in the answer (points or events), to show each query did real work. */
  items: number;
}

export interface ExplorerReport {
  events: number;
  seededEventsPerSecond: number;
  /** Rows in the rollups after seeding: what the usage queries read instead of the events. */
  rollupRows: Record<string, number>;
  queries: ExplorerQueryResult[];
  /** Events the auditor's unfiltered view counted, to check nothing was lost (= seeded + setup events). */
  totalEvents: number;
}

interface NamedQuery {
  name: string;
  target: boolean;
  query: string;
  variables: Record<string, unknown>;
  count: (data: Record<string, unknown>) => number;
}

const DAY = 86_400_000;

function explorerQueries(now: number, sample: { mcpId: string; tool: string; userId: string }): NamedQuery[] {
  const since30 = new Date(now - 30 * DAY).toISOString();
  const page = (data: Record<string, unknown>) => (data.auditEvents as { edges: unknown[] }).edges.length;
  const points = (field: string) => (data: Record<string, unknown>) => (data[field] as unknown[]).length;
  const eventFields = `edges { cursor node { id time type decision outcome callStatus reason durationMs resultBytes
    actor { type user { username } client { name } } target { mcp { slug } toolName } } } pageInfo { hasNextPage endCursor }`;
  return [
    {
      name: 'usage(groupBy: [TOOL], bucket: DAY), last 30 days',
      target: true,
      query: `query($since: DateTime) { usage(groupBy: [TOOL], bucket: DAY, filter: { since: $since }) {
        bucketStart tool calls errors errorRate p50Ms p95Ms p99Ms resultBytes } }`,
      variables: { since: since30 },
      count: points('usage'),
    },
    {
      name: 'auditEvents page: MCP + tool + last 7 days (50)',
      target: true,
      query: `query($filter: AuditEventFilter) { auditEvents(first: 50, filter: $filter) { ${eventFields} } }`,
      variables: {
        filter: { mcpId: sample.mcpId, tool: sample.tool, since: new Date(now - 7 * DAY).toISOString() },
      },
      count: page,
    },
    {
      name: 'auditEvents page: user + tool calls (50)',
      target: true,
      query: `query($filter: AuditEventFilter) { auditEvents(first: 50, filter: $filter) { ${eventFields} } }`,
      variables: { filter: { actorUserId: sample.userId, types: ['tool.call', 'tool.denied'] } },
      count: page,
    },
    {
      name: 'auditEvents page: failures, reason words (50)',
      target: true,
      query: `query($filter: AuditEventFilter) { auditEvents(first: 50, filter: $filter) { ${eventFields} } }`,
      variables: { filter: { outcomes: ['FAILURE'], reasonSearch: 'DOWNSTREAM_TIMEOUT', since: since30 } },
      count: page,
    },
    {
      name: 'usage(groupBy: [MCP, OUTCOME], bucket: HOUR), last 24 h',
      target: false,
      query: '{ usage(groupBy: [MCP, OUTCOME], bucket: HOUR) { bucketStart mcpId outcome calls p95Ms } }',
      variables: {},
      count: points('usage'),
    },
    {
      name: 'usage(groupBy: [USER], bucket: DAY), last 30 days',
      target: false,
      query: `query($since: DateTime) { usage(groupBy: [USER], bucket: DAY, filter: { since: $since }) {
        bucketStart userId calls errorRate p95Ms } }`,
      variables: { since: since30 },
      count: points('usage'),
    },
    {
      name: 'topTools + topUsers, last 30 days',
      target: false,
      query:
        '{ topTools(limit: 10) { tool mcp { slug } calls errorRate p95Ms } topUsers(limit: 10) { userId calls } }',
      variables: {},
      count: (data) => (data.topTools as unknown[]).length + (data.topUsers as unknown[]).length,
    },
    {
      name: "a user's own usage(groupBy: [TOOL], bucket: DAY), 30 days (events)",
      target: false,
      query: `query($since: DateTime, $user: String) { usage(groupBy: [TOOL], bucket: DAY,
        filter: { since: $since, actorUserId: $user }) { bucketStart tool calls p95Ms } }`,
      variables: { since: since30, user: sample.userId },
      count: points('usage'),
    },
  ];
}

async function graphql(portal: string, token: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${portal}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (!response.ok || body.errors || !body.data) {
    throw new Error(`GraphQL ${response.status}: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
  }
  return body.data;
}

/**
 * Seeds `events` realistic audit events through the production writer into a fresh database, starts
 * Gatehouse on it, and times the explorer's queries over HTTP as an auditor's API token would run them.
 */
export async function runExplorerBench(options: ExplorerOptions): Promise<ExplorerReport> {
  const database = await benchDatabase(options.databaseUrl);
  const gatehouse = await startGatehouseProcess(database.url, temporaryDataDir());
  try {
    const provisioner = await provision(gatehouse.portal);
    const now = Date.now();
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      await db.query('select audit_ensure_partitions($1, $2)', [
        new Date(now - options.days * DAY),
        new Date(now),
      ]);
      options.log(`seeding ${options.events} audit events over ${options.days} days`);
      const started = performance.now();
      const population = await seedAuditEvents(database.url, {
        events: options.events,
        days: options.days,
        now: new Date(now),
        onProgress: (written) => {
          if (written > 0 && written % 200_000 === 0) options.log(`  ${written} events`);
        },
      });
      const seededEventsPerSecond = options.events / ((performance.now() - started) / 1000);
      // The seeded rows bypass the server's batcher: fold them into the usage rollups as its aggregator would
      // (ADR 0027), so the usage queries read rollups plus a short tail, as in production.
      for (;;) {
        const folded = Number((await db.query('select audit_fold_usage(100000) as n')).rows[0].n);
        if (folded === 0) break;
        if (folded < 0) throw new Error('another session holds the usage fold lock');
      }
      // Autovacuum would analyze the new rows shortly; the bench does it at once so plans are steady.
      await db.query('vacuum analyze');
      const rollupRows: Record<string, number> = {};
      for (const table of [
        'audit_usage_hourly',
        'audit_usage_daily',
        'audit_actor_usage_hourly',
        'audit_actor_usage_daily',
      ]) {
        rollupRows[table] = Number((await db.query(`select count(*) as n from ${table}`)).rows[0].n);
      }
      const mcp = population.mcps[0];
      const sample = {
        mcpId: mcp?.id ?? '',
        tool: mcp?.tools[0]?.name ?? '',
        userId: population.users[0] ?? '',
      };
      const queries: ExplorerQueryResult[] = [];
      for (const named of explorerQueries(now, sample)) {
        let items = named.count(
          await graphql(gatehouse.portal, provisioner.adminToken, named.query, named.variables),
        );
        const samples: number[] = [];
        for (let run = 0; run < options.runs; run++) {
          const started = performance.now();
          const data = await graphql(gatehouse.portal, provisioner.adminToken, named.query, named.variables);
          samples.push(performance.now() - started);
          items = named.count(data);
        }
        const timing = distribution(samples);
        queries.push({
          name: named.name,
          target: named.target,
          p50: timing.p50,
          p95: timing.p95,
          max: timing.max,
          items,
        });
        options.log(`  ${named.name}: p50 ${timing.p50.toFixed(1)} ms`);
      }
      const total = Number((await db.query('select count(*) as n from audit_event')).rows[0].n);
      return { events: options.events, seededEventsPerSecond, rollupRows, queries, totalEvents: total };
    } finally {
      await db.end();
    }
  } finally {
    await gatehouse.stop();
    await database.close();
  }
}

export function formatExplorerTable(report: ExplorerReport): string {
  const lines = [
    `Audit explorer over ${report.events.toLocaleString('en')} seeded events (${report.totalEvents.toLocaleString('en')} in the trail; seeded at ${Math.round(report.seededEventsPerSecond).toLocaleString('en')} events/s)`,
    `Rollup rows: ${Object.entries(report.rollupRows)
      .map(([table, rows]) => `${table} ${rows.toLocaleString('en')}`)
      .join(', ')}`,
    '',
    '| Query | Items | p50 ms | p95 ms | max ms | Target ≤ 300 ms |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...report.queries.map(
      (query) =>
        `| ${query.name} | ${query.items} | ${query.p50.toFixed(1)} | ${query.p95.toFixed(1)} | ${query.max.toFixed(1)} | ${
          query.target ? (query.p95 <= 300 ? 'met (p95)' : 'MISSED (p95)') : ''
        } |`,
    ),
  ];
  return lines.join('\n');
}
