import {
  type AuditDecision,
  type AuditEventFilter,
  type AuditEventPage,
  type CallStatus,
  MAX_USAGE_BUCKETS,
  type TopQuery,
  type UsageBucket,
  type UsageDimension,
  type UsageFilter,
  type UsageQuery,
} from '@gatehouse/schema';
import type { Clock } from '../platform/clock.js';
import { requireAuthenticated, type ServiceContext } from '../platform/context.js';
import { validationFailed } from '../platform/errors.js';
import type { ChainedRecord } from './chain.js';
import { type AuditReader, SqlConditions } from './reader.js';
import { type AuditEventRow, chainedRecordOf } from './verify.js';

/** Whose events a caller may read: auditors and admins everything, everyone else only their own. */
export type AuditScope = { kind: 'all' } | { kind: 'own'; userId: string };

export function auditScopeOf(ctx: ServiceContext): AuditScope {
  const actor = requireAuthenticated(ctx);
  return actor.role === 'admin' || actor.role === 'auditor'
    ? { kind: 'all' }
    : { kind: 'own', userId: actor.userId };
}

/** Events that record an access decision (allowed, or refused with outcome `denied`). */
const ACCESS_ACTIONS = [
  'tool.call',
  'tool.denied',
  'prompt.get',
  'prompt.denied',
  'resource.read',
  'resource.denied',
];

export interface ExplorerEvent extends ChainedRecord {
  decision: AuditDecision | null;
  tool: string | null;
  callStatus: CallStatus | null;
  durationMs: number | null;
  resultBytes: number | null;
}

export interface EventPage {
  events: ExplorerEvent[];
  hasNextPage: boolean;
}

export interface UsagePoint {
  bucketStart: Date | null;
  tool: string | null;
  mcpId: string | null;
  userId: string | null;
  clientId: string | null;
  outcome: CallStatus | null;
  calls: number;
  errors: number;
  denied: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  resultBytes: number;
}

const CURSOR_PREFIX = 'ae:';
export const eventCursor = (id: number) => Buffer.from(`${CURSOR_PREFIX}${id}`).toString('base64url');

function cursorId(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const id = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : Number.NaN;
  if (!Number.isSafeInteger(id) || id < 1)
    throw validationFailed({ after: ['is not a cursor from this list'] });
  return id;
}

const eventColumns = `id, occurred_at, action, actor_type, actor_user_id, actor_token_id, actor_client_id,
  actor_label, target_type, target_id, target_label, outcome, reason, ip, request_id, details, prev_hash, hash,
  tool, call_status, duration_ms, result_bytes`;

type EventRow = AuditEventRow & {
  tool: string | null;
  call_status: CallStatus | null;
  duration_ms: string | null;
  result_bytes: string | null;
};

function explorerEventOf(row: EventRow): ExplorerEvent {
  const record = chainedRecordOf(row);
  const decision: AuditDecision | null =
    record.outcome === 'denied' ? 'deny' : ACCESS_ACTIONS.includes(record.action) ? 'allow' : null;
  return {
    ...record,
    decision,
    tool: row.tool,
    callStatus: row.call_status,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    resultBytes: row.result_bytes === null ? null : Number(row.result_bytes),
  };
}

function restrictToScope(sql: SqlConditions, scope: AuditScope): void {
  if (scope.kind === 'own') sql.add(`actor_user_id = ${sql.param(scope.userId)}`);
}

function addTimeRange(sql: SqlConditions, filter: { since?: Date; until?: Date }): void {
  if (filter.since) sql.add(`occurred_at >= ${sql.param(filter.since)}`);
  if (filter.until) sql.add(`occurred_at < ${sql.param(filter.until)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Usage: counts, error rate, duration percentiles and bytes per group and time bucket.
// Durations are counted in a log-scale histogram (factor 1.1, see migration 0008), so any percentile read
// from it is within 4.8% of the exact value, and histograms of rollup rows and events add up exactly.
// ---------------------------------------------------------------------------------------------------------

const GAMMA = 1.1;
const BELOW_RESOLUTION = -49;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const bucketMs: Record<UsageBucket, number> = {
  minute: 60_000,
  hour: HOUR_MS,
  day: DAY_MS,
  week: 7 * DAY_MS,
};
const defaultSpan: Record<UsageBucket, number> = {
  minute: HOUR_MS,
  hour: DAY_MS,
  day: 30 * DAY_MS,
  week: 12 * 7 * DAY_MS,
};
/** Rows one usage answer may merge (groups × buckets × statuses); beyond it the question is refused. */
const MAX_ROWS = 200_000;

/** Each dimension over `audit_event`. */
const eventDimension: Record<UsageDimension, string> = {
  tool: 'tool',
  mcp: `coalesce(case when target_type = 'mcp' then target_id end, '')`,
  user: `coalesce(actor_user_id, '')`,
  client: `coalesce(actor_client_id, '')`,
  outcome: 'call_status',
};

type FilterKey = 'mcpId' | 'tool' | 'actorUserId' | 'actorClientId';
const filterKeys: FilterKey[] = ['mcpId', 'tool', 'actorUserId', 'actorClientId'];

/** A pair of rollups (hourly, daily) and the dimensions and filters its rows keep (see migration 0008). */
interface RollupFamily {
  hourly: string;
  daily: string;
  dimensions: Partial<Record<UsageDimension, string>>;
  filters: Partial<Record<FilterKey, string>>;
}

const rollupFamilies: RollupFamily[] = [
  {
    hourly: 'audit_usage_hourly',
    daily: 'audit_usage_daily',
    dimensions: { tool: 'tool', mcp: 'mcp_id', outcome: 'call_status' },
    filters: { mcpId: 'mcp_id', tool: 'tool' },
  },
  {
    hourly: 'audit_actor_usage_hourly',
    daily: 'audit_actor_usage_daily',
    dimensions: { user: 'user_id', client: 'client_id', outcome: 'call_status' },
    filters: { actorUserId: 'user_id', actorClientId: 'client_id' },
  },
];
export const usageRollupTables = rollupFamilies.flatMap((family) => [family.hourly, family.daily]);

/** Where one stretch of the time range is read from: whole days, whole hours, or the events themselves. */
type Source = 'daily' | 'hourly' | 'events';
interface Segment {
  source: Source;
  since: Date;
  until: Date;
}

interface UsageRow {
  bucket: Date | null;
  status: CallStatus;
  calls: string;
  bytes: string;
  durations: Record<string, number | string>;
  [key: `k${number}`]: string;
}

const floorTo = (time: number, unit: number) => Math.floor(time / unit) * unit;
const ceilTo = (time: number, unit: number) => Math.ceil(time / unit) * unit;

/**
 * Splits [since, until) so each stretch is read from the cheapest source that answers it exactly: whole days
 * from the daily rollup (for day, week and total buckets), whole hours from the hourly rollup, and the partial
 * hours at either edge from the events.
 */
export function usageSegments(since: Date, until: Date, bucket: UsageBucket | null): Segment[] {
  const segment = (source: Source, from: number, to: number): Segment[] =>
    from < to ? [{ source, since: new Date(from), until: new Date(to) }] : [];
  const start = since.getTime();
  const end = until.getTime();
  const firstHour = ceilTo(start, HOUR_MS);
  const lastHour = floorTo(end, HOUR_MS);
  if (firstHour >= lastHour) return segment('events', start, end);
  const edges = [...segment('events', start, firstHour), ...segment('events', lastHour, end)];
  if (bucket === 'hour') return [...edges, ...segment('hourly', firstHour, lastHour)];
  const firstDay = ceilTo(firstHour, DAY_MS);
  const lastDay = floorTo(lastHour, DAY_MS);
  if (firstDay >= lastDay) return [...edges, ...segment('hourly', firstHour, lastHour)];
  return [
    ...edges,
    ...segment('hourly', firstHour, firstDay),
    ...segment('daily', firstDay, lastDay),
    ...segment('hourly', lastDay, lastHour),
  ];
}

const representativeMs = (durationBucket: number) =>
  durationBucket === BELOW_RESOLUTION
    ? 0
    : Math.round(((2 * GAMMA ** durationBucket) / (GAMMA + 1)) * 100) / 100;

/** Nearest-rank percentile of a histogram, as its bucket's representative value. */
function percentile(histogram: Map<number, number>, quantile: number): number | null {
  const cells = [...histogram].sort((a, b) => a[0] - b[0]);
  const total = cells.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(quantile * total));
  let seen = 0;
  for (const [durationBucket, count] of cells) {
    seen += count;
    if (seen >= rank) return representativeMs(durationBucket);
  }
  return null;
}

interface UsageSpec {
  dimensions: UsageDimension[];
  bucket: UsageBucket | null;
  filter: UsageFilter;
  since: Date;
  until: Date;
}

export class AuditExplorer {
  constructor(
    readonly reader: AuditReader,
    private readonly clock: Clock,
  ) {}

  async events(scope: AuditScope, filter: AuditEventFilter, page: AuditEventPage): Promise<EventPage> {
    const sql = new SqlConditions();
    restrictToScope(sql, scope);
    if (page.after) sql.add(`id < ${sql.param(cursorId(page.after))}`);
    addTimeRange(sql, filter);
    if (filter.types) sql.add(`action = any(${sql.param(filter.types)}::text[])`);
    if (filter.actorUserId) sql.add(`actor_user_id = ${sql.param(filter.actorUserId)}`);
    if (filter.actorClientId) sql.add(`actor_client_id = ${sql.param(filter.actorClientId)}`);
    if (filter.mcpId) sql.add(`target_type = 'mcp' and target_id = ${sql.param(filter.mcpId)}`);
    if (filter.tool) sql.add(`tool = ${sql.param(filter.tool)}`);
    if (filter.decision === 'deny') sql.add(`outcome = 'denied'`);
    if (filter.decision === 'allow') {
      sql.add(`outcome <> 'denied' and action = any(${sql.param(ACCESS_ACTIONS)}::text[])`);
    }
    if (filter.outcomes) sql.add(`outcome = any(${sql.param(filter.outcomes)}::text[])`);
    if (filter.reasonSearch) {
      sql.add(
        `reason is not null and to_tsvector('simple', reason) @@ plainto_tsquery('simple', ${sql.param(filter.reasonSearch)})`,
      );
    }
    const limit = sql.param(page.first + 1);
    const rows = await this.reader.rows<EventRow>(
      `select ${eventColumns} from audit_event ${sql.where} order by id desc limit ${limit}`,
      sql.params,
    );
    return { events: rows.slice(0, page.first).map(explorerEventOf), hasNextPage: rows.length > page.first };
  }

  async usage(scope: AuditScope, query: UsageQuery): Promise<UsagePoint[]> {
    const { since, until } = this.timeRange(query.filter, query.bucket);
    if ((until.getTime() - since.getTime()) / bucketMs[query.bucket] > MAX_USAGE_BUCKETS) {
      throw validationFailed(
        { bucket: [`more than ${MAX_USAGE_BUCKETS} buckets in this range; choose a larger bucket`] },
        'Too many time buckets',
      );
    }
    const dimensions = [...new Set(query.groupBy)];
    const points = await this.aggregate(scope, {
      dimensions,
      bucket: query.bucket,
      filter: query.filter,
      since,
      until,
    });
    return points.sort(
      (a, b) => (a.bucketStart?.getTime() ?? 0) - (b.bucketStart?.getTime() ?? 0) || b.calls - a.calls,
    );
  }

  async topTools(scope: AuditScope, query: TopQuery): Promise<UsagePoint[]> {
    return this.top(scope, query, ['tool', 'mcp']);
  }

  async topUsers(scope: AuditScope, query: TopQuery): Promise<UsagePoint[]> {
    return this.top(scope, query, ['user']);
  }

  private async top(scope: AuditScope, query: TopQuery, dimensions: UsageDimension[]): Promise<UsagePoint[]> {
    const { since, until } = this.timeRange(query.filter, 'day');
    const points = await this.aggregate(scope, {
      dimensions,
      bucket: null,
      filter: query.filter,
      since,
      until,
    });
    return points.sort((a, b) => b.calls - a.calls).slice(0, query.limit);
  }

  private timeRange(filter: UsageFilter, bucket: UsageBucket): { since: Date; until: Date } {
    const until = filter.until ?? this.clock.now();
    const since = filter.since ?? new Date(until.getTime() - defaultSpan[bucket]);
    if (since >= until) throw validationFailed({ 'filter.since': ['must be before until'] });
    return { since, until };
  }

  /**
   * A rollup family answers when its rows keep every dimension and filter asked for (a user's own scope is
   * a user filter) and buckets are an hour or more; otherwise the events answer alone.
   */
  private async aggregate(scope: AuditScope, spec: UsageSpec): Promise<UsagePoint[]> {
    const filters = { ...spec.filter, ...(scope.kind === 'own' && { actorUserId: scope.userId }) };
    const family =
      spec.bucket === 'minute' ||
      (scope.kind === 'own' && spec.filter.actorUserId && spec.filter.actorUserId !== scope.userId)
        ? undefined
        : rollupFamilies.find(
            (candidate) =>
              spec.dimensions.every((dimension) => candidate.dimensions[dimension]) &&
              filterKeys.every((key) => !filters[key] || candidate.filters[key]),
          );
    const segments: Segment[] = family
      ? usageSegments(spec.since, spec.until, spec.bucket)
      : [{ source: 'events', since: spec.since, until: spec.until }];
    const parts = await Promise.all(segments.map((segment) => this.rows(scope, spec, segment, family)));
    const rows = parts.flat();
    if (rows.length > MAX_ROWS) throw tooManyGroups();
    return pointsOf(rows, spec.dimensions);
  }

  /**
   * One segment's rows: per bucket, group and call status, with the durations' histogram. A rollup segment
   * adds the events above the fold watermark (not folded yet, ADR 0027), read in the same statement so the
   * rollups and the watermark come from one snapshot: every call is counted exactly once.
   */
  private async rows(
    scope: AuditScope,
    spec: UsageSpec,
    segment: Segment,
    family: RollupFamily | undefined,
  ): Promise<UsageRow[]> {
    const sql = new SqlConditions();
    const limit = MAX_ROWS + 1;
    // Every SQL fragment below is a constant of this module; values travel only as parameters.
    if (segment.source !== 'events' && family) {
      sql.add(`period_start >= ${sql.param(segment.since)} and period_start < ${sql.param(segment.until)}`);
      if (scope.kind === 'own') sql.add(`${family.filters.actorUserId} = ${sql.param(scope.userId)}`);
      for (const key of filterKeys) {
        const value = spec.filter[key];
        if (value) sql.add(`${family.filters[key]} = ${sql.param(value)}`);
      }
      const bucket = spec.bucket ? `date_trunc('${spec.bucket}', period_start, 'UTC')` : 'null::timestamptz';
      const keys = spec.dimensions.map((dimension, index) => `${family.dimensions[dimension]} as k${index}`);
      const tail = new SqlConditions(sql.params);
      tail.add('id > (select through_id from audit_usage_watermark where id = 1)');
      return this.reader.rows<UsageRow>(
        `select ${[`${bucket} as bucket`, ...keys].join(', ')}, call_status as status, calls,
                result_bytes as bytes, durations
           from ${segment.source === 'daily' ? family.daily : family.hourly} ${sql.where}
         union all
         ${eventsQuery(scope, spec, segment, tail)}
         limit ${limit}`,
        sql.params,
      );
    }
    return this.reader.rows<UsageRow>(`${eventsQuery(scope, spec, segment, sql)} limit ${limit}`, sql.params);
  }
}

/** Usage rows of the events of one segment, aggregated as the rollups are (see migration 0008). */
function eventsQuery(scope: AuditScope, spec: UsageSpec, segment: Segment, sql: SqlConditions): string {
  sql.add(`occurred_at >= ${sql.param(segment.since)} and occurred_at < ${sql.param(segment.until)}`);
  sql.add('call_status is not null and tool is not null');
  restrictToScope(sql, scope);
  if (spec.filter.mcpId) sql.add(`target_type = 'mcp' and target_id = ${sql.param(spec.filter.mcpId)}`);
  if (spec.filter.tool) sql.add(`tool = ${sql.param(spec.filter.tool)}`);
  if (spec.filter.actorUserId) sql.add(`actor_user_id = ${sql.param(spec.filter.actorUserId)}`);
  if (spec.filter.actorClientId) sql.add(`actor_client_id = ${sql.param(spec.filter.actorClientId)}`);
  const bucket = spec.bucket ? `date_trunc('${spec.bucket}', occurred_at, 'UTC')` : 'null::timestamptz';
  const inner = [
    `${bucket} as bucket`,
    ...spec.dimensions.map((d, index) => `${eventDimension[d]} as k${index}`),
  ];
  const outer = ['bucket', ...spec.dimensions.map((_, index) => `k${index}`), 'status'];
  return `select ${outer.join(', ')}, sum(calls) as calls, sum(bytes) as bytes,
              coalesce(jsonb_object_agg(duration_bucket, calls) filter (where duration_bucket <> -32768), '{}') as durations
         from (select ${inner.join(', ')}, call_status as status,
                      audit_duration_bucket(duration_ms) as duration_bucket,
                      count(*) as calls, coalesce(sum(result_bytes), 0) as bytes
                 from audit_event ${sql.where}
                group by ${outer.map((_, index) => index + 1).join(', ')}, ${outer.length + 1}) as cells
        group by ${outer.join(', ')}`;
}

const tooManyGroups = () =>
  validationFailed(
    { groupBy: ['too many groups for one answer; narrow the time range or filters, or group by less'] },
    'Too many groups',
  );

function pointsOf(rows: UsageRow[], dimensions: UsageDimension[]): UsagePoint[] {
  const groups = new Map<string, { point: UsagePoint; histogram: Map<number, number> }>();
  for (const row of rows) {
    const keys = dimensions.map((_, index) => row[`k${index}`] ?? '');
    const id = `${row.bucket?.getTime() ?? ''}\u0000${keys.join('\u0000')}`;
    let group = groups.get(id);
    if (!group) {
      const key = (dimension: UsageDimension) => {
        const index = dimensions.indexOf(dimension);
        return index < 0 ? null : keys[index] || null;
      };
      group = {
        point: {
          bucketStart: row.bucket,
          tool: key('tool'),
          mcpId: key('mcp'),
          userId: key('user'),
          clientId: key('client'),
          outcome: key('outcome') as CallStatus | null,
          calls: 0,
          errors: 0,
          denied: 0,
          errorRate: 0,
          p50Ms: null,
          p95Ms: null,
          p99Ms: null,
          resultBytes: 0,
        },
        histogram: new Map(),
      };
      groups.set(id, group);
    }
    const { point, histogram } = group;
    const calls = Number(row.calls);
    point.calls += calls;
    point.resultBytes += Number(row.bytes);
    if (row.status === 'tool_error' || row.status === 'failed') point.errors += calls;
    if (row.status === 'denied') point.denied += calls;
    for (const [cell, count] of Object.entries(row.durations)) {
      histogram.set(Number(cell), (histogram.get(Number(cell)) ?? 0) + Number(count));
    }
  }
  return [...groups.values()].map(({ point, histogram }) => ({
    ...point,
    errorRate: point.calls === 0 ? 0 : point.errors / point.calls,
    p50Ms: percentile(histogram, 0.5),
    p95Ms: percentile(histogram, 0.95),
    p99Ms: percentile(histogram, 0.99),
  }));
}
