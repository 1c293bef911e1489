import { AuditEventFilter, AuditEventPage, type CallStatus, TopQuery, UsageQuery } from '@gatehouse/schema';
import SchemaBuilder from '@pothos/core';
import { GraphQLError, Kind } from 'graphql';
import type { z } from 'zod';
import type { ChainMonitor, ChainStatus } from '../audit/chain-monitor.js';
import {
  type AuditExplorer,
  type AuditScope,
  type ExplorerEvent,
  eventCursor,
  type UsagePoint,
} from '../audit/explorer.service.js';
import { fieldErrorsOf, forbidden, validationFailed } from '../platform/errors.js';
import type { ApiTokenNode, ClientNode, GroupNode, Loaders, McpNode, ToolNode, UserNode } from './loaders.js';
import { toolKey } from './loaders.js';

export interface GraphqlContext {
  scope: AuditScope;
  /** The signed-in person's user id (their own events are all a `user` may see). */
  userId: string;
  explorer: AuditExplorer;
  monitor: ChainMonitor;
  loaders: Loaders;
}

const builder = new SchemaBuilder<{
  Context: GraphqlContext;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({ defaultFieldNullability: false });

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new GraphQLError('DateTime must be an ISO 8601 date-time such as 2026-11-24T10:00:00Z');
  }
  return date;
}

builder.scalarType('DateTime', {
  description: 'An instant as an ISO 8601 string in UTC, e.g. 2026-11-24T10:00:00.000Z.',
  serialize: (value) => value.toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (node) => parseDateTime(node.kind === Kind.STRING ? node.value : null),
});

/** Input is validated once more by the shared zod schema, which holds every bound (lengths, list sizes). */
function parseInput<S extends z.ZodType>(schema: S, value: unknown, field: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationFailed(fieldErrorsOf(result.error.issues, [field]));
  return result.data;
}

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value.toUpperCase(), { value }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

const AuditOutcomeEnum = builder.enumType('AuditOutcome', {
  values: upper(['success', 'failure', 'denied'] as const),
});
const AuditDecisionEnum = builder.enumType('AuditDecision', {
  description: 'The access decision an event records: tool calls, prompts and resources allowed or refused.',
  values: upper(['allow', 'deny'] as const),
});
const CallStatusEnum = builder.enumType('CallStatus', {
  description: 'How a tool call ended: OK, TOOL_ERROR (the tool reported an error), FAILED, or DENIED.',
  values: upper(['ok', 'tool_error', 'failed', 'denied'] as const),
});
const UsageGroupByEnum = builder.enumType('UsageGroupBy', {
  values: upper(['tool', 'mcp', 'user', 'client', 'outcome'] as const),
});
const UsageBucketEnum = builder.enumType('UsageBucket', {
  description: 'Time buckets, aligned in UTC (weeks start on Monday).',
  values: upper(['minute', 'hour', 'day', 'week'] as const),
});

const UserRef = builder.objectRef<UserNode>('User');
const GroupRef = builder.objectRef<GroupNode>('Group');
const McpRef = builder.objectRef<McpNode>('Mcp');
const ToolRef = builder.objectRef<ToolNode>('Tool');
const ClientRef = builder.objectRef<ClientNode>('Client');
const ApiTokenRef = builder.objectRef<ApiTokenNode>('ApiToken');

UserRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    username: t.exposeString('username'),
    displayName: t.exposeString('displayName'),
    role: t.exposeString('role'),
    status: t.exposeString('status'),
    groups: t.field({
      type: [GroupRef],
      resolve: (user, _args, ctx) => ctx.loaders.groupsOfUser.load(user.id),
    }),
  }),
});

GroupRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
  }),
});

McpRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    slug: t.exposeString('slug'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    status: t.exposeString('status'),
    tools: t.field({
      type: [ToolRef],
      description: 'The tools Gatehouse has pinned for this MCP, with their review state.',
      resolve: (mcp, _args, ctx) => ctx.loaders.toolsOfMcp.load(mcp.id),
    }),
  }),
});

ToolRef.implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    pinState: t.exposeString('pinState'),
    approvedDefinitionHash: t.exposeString('approvedHash', { nullable: true }),
    mcp: t.field({
      type: McpRef,
      nullable: true,
      resolve: (tool, _args, ctx) => ctx.loaders.mcp.load(tool.mcpId),
    }),
  }),
});

ClientRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    kind: t.exposeString('kind'),
    status: t.exposeString('status'),
    user: t.field({
      type: UserRef,
      nullable: true,
      resolve: (client, _args, ctx) => ctx.loaders.user.load(client.userId),
    }),
  }),
});

ApiTokenRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    role: t.exposeString('role'),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (token, _args, ctx) => ctx.loaders.user.load(token.createdById),
    }),
  }),
});

const load = <T>(loader: { load(key: string): Promise<T | null> }, key: string | null) =>
  key ? loader.load(key) : null;

const AuditActorRef = builder.objectRef<ExplorerEvent>('AuditActor');
AuditActorRef.implement({
  description: 'Who acted: a person in the portal, an API token, an AI client, or Gatehouse itself (system).',
  fields: (t) => ({
    type: t.exposeString('actorType'),
    label: t.exposeString('actorLabel', { nullable: true }),
    user: t.field({
      type: UserRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.user, event.actorUserId),
    }),
    client: t.field({
      type: ClientRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.client, event.actorClientId),
    }),
    apiToken: t.field({
      type: ApiTokenRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.apiToken, event.actorTokenId),
    }),
  }),
});

const targetOf = (event: ExplorerEvent, type: string) => (event.targetType === type ? event.targetId : null);

const AuditTargetRef = builder.objectRef<ExplorerEvent>('AuditTarget');
AuditTargetRef.implement({
  description: 'What the event is about. Related objects resolve while they exist; the ids always remain.',
  fields: (t) => ({
    type: t.exposeString('targetType', { nullable: true }),
    id: t.exposeString('targetId', { nullable: true }),
    label: t.exposeString('targetLabel', { nullable: true }),
    mcp: t.field({
      type: McpRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.mcp, targetOf(event, 'mcp')),
    }),
    tool: t.field({
      type: ToolRef,
      nullable: true,
      resolve: (event, _args, ctx) => {
        const mcpId = targetOf(event, 'mcp');
        return mcpId && event.tool ? ctx.loaders.tool.load(toolKey(mcpId, event.tool)) : null;
      },
    }),
    toolName: t.exposeString('tool', { nullable: true }),
    user: t.field({
      type: UserRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.user, targetOf(event, 'user')),
    }),
    group: t.field({
      type: GroupRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.group, targetOf(event, 'group')),
    }),
    client: t.field({
      type: ClientRef,
      nullable: true,
      resolve: (event, _args, ctx) => load(ctx.loaders.client, targetOf(event, 'client')),
    }),
  }),
});

const detail = (event: ExplorerEvent, key: string) => {
  const value = event.details[key];
  return typeof value === 'string' ? value : null;
};

const AuditEventRef = builder.objectRef<ExplorerEvent>('AuditEvent');
AuditEventRef.implement({
  description: 'One link of the hash-chained audit trail.',
  fields: (t) => ({
    id: t.id({ resolve: (event) => String(event.id) }),
    time: t.field({ type: 'DateTime', resolve: (event) => event.occurredAt }),
    type: t.exposeString('action', { description: 'The action, e.g. tool.call or mcp.publish.' }),
    actor: t.field({ type: AuditActorRef, resolve: (event) => event }),
    target: t.field({ type: AuditTargetRef, resolve: (event) => event }),
    decision: t.field({ type: AuditDecisionEnum, nullable: true, resolve: (event) => event.decision }),
    outcome: t.field({ type: AuditOutcomeEnum, resolve: (event) => event.outcome }),
    callStatus: t.field({ type: CallStatusEnum, nullable: true, resolve: (event) => event.callStatus }),
    reason: t.exposeString('reason', { nullable: true }),
    durationMs: t.exposeFloat('durationMs', { nullable: true }),
    resultBytes: t.exposeFloat('resultBytes', { nullable: true }),
    toolDefinitionHash: t.string({ nullable: true, resolve: (event) => detail(event, 'definitionHash') }),
    ip: t.exposeString('ip', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true }),
    details: t.string({
      description: 'The non-secret facts recorded with the event, as JSON.',
      resolve: (event) => JSON.stringify(event.details),
    }),
    hash: t.exposeString('hash'),
    prevHash: t.exposeString('prevHash'),
  }),
});

const AuditEventEdgeRef = builder.objectRef<ExplorerEvent>('AuditEventEdge');
AuditEventEdgeRef.implement({
  fields: (t) => ({
    cursor: t.string({ resolve: (event) => eventCursor(event.id) }),
    node: t.field({ type: AuditEventRef, resolve: (event) => event }),
  }),
});

const PageInfoRef = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo');
PageInfoRef.implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

const AuditEventConnectionRef = builder.objectRef<{ events: ExplorerEvent[]; hasNextPage: boolean }>(
  'AuditEventConnection',
);
AuditEventConnectionRef.implement({
  description: 'Newest first. Cursors stay valid while new events arrive: a page never repeats or skips one.',
  fields: (t) => ({
    edges: t.field({ type: [AuditEventEdgeRef], resolve: (page) => page.events }),
    pageInfo: t.field({
      type: PageInfoRef,
      resolve: (page) => {
        const last = page.events.at(-1);
        return { hasNextPage: page.hasNextPage, endCursor: last ? eventCursor(last.id) : null };
      },
    }),
  }),
});

const UsagePointRef = builder.objectRef<UsagePoint>('UsagePoint');
UsagePointRef.implement({
  description:
    'Tool calls in one group and time bucket (counts are Float: they can exceed 32 bits). `calls` counts refused calls too; `errorRate` is the share ' +
    'that failed or returned a tool error; percentiles come from a log histogram and are within 5% of exact.',
  fields: (t) => ({
    bucketStart: t.field({ type: 'DateTime', nullable: true, resolve: (point) => point.bucketStart }),
    tool: t.exposeString('tool', { nullable: true }),
    mcpId: t.exposeString('mcpId', { nullable: true }),
    mcp: t.field({
      type: McpRef,
      nullable: true,
      resolve: (point, _a, ctx) => load(ctx.loaders.mcp, point.mcpId),
    }),
    userId: t.exposeString('userId', { nullable: true }),
    user: t.field({
      type: UserRef,
      nullable: true,
      resolve: (point, _a, ctx) => load(ctx.loaders.user, point.userId),
    }),
    clientId: t.exposeString('clientId', { nullable: true }),
    client: t.field({
      type: ClientRef,
      nullable: true,
      resolve: (point, _a, ctx) => load(ctx.loaders.client, point.clientId),
    }),
    outcome: t.field({
      type: CallStatusEnum,
      nullable: true,
      resolve: (point) => point.outcome as CallStatus | null,
    }),
    calls: t.exposeFloat('calls'),
    errors: t.exposeFloat('errors'),
    denied: t.exposeFloat('denied'),
    errorRate: t.exposeFloat('errorRate'),
    p50Ms: t.exposeFloat('p50Ms', { nullable: true }),
    p95Ms: t.exposeFloat('p95Ms', { nullable: true }),
    p99Ms: t.exposeFloat('p99Ms', { nullable: true }),
    resultBytes: t.exposeFloat('resultBytes'),
  }),
});

const ChainStatusRef = builder.objectRef<ChainStatus>('AuditChainStatus');
ChainStatusRef.implement({
  description:
    'The hash chain as last verified: incrementally up to the current head on each request, fully at start ' +
    'and daily. Verification starts after the newest retention checkpoint.',
  fields: (t) => ({
    intact: t.exposeBoolean('intact'),
    verifiedThrough: t.exposeFloat('verifiedThrough', { description: 'The last event id verified.' }),
    checkpointThrough: t.exposeFloat('checkpointThrough'),
    brokenAt: t.exposeFloat('brokenAt', { nullable: true }),
    problem: t.exposeString('problem', { nullable: true }),
    checkedAt: t.field({ type: 'DateTime', nullable: true, resolve: (status) => status.checkedAt }),
    lastFullCheckAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (status) => status.lastFullCheckAt,
    }),
  }),
});

const AuditEventFilterInput = builder.inputType('AuditEventFilter', {
  fields: (t) => ({
    since: t.field({ type: 'DateTime' }),
    until: t.field({ type: 'DateTime' }),
    types: t.stringList({ description: 'Actions such as tool.call; any of them.' }),
    actorUserId: t.string(),
    actorClientId: t.string(),
    mcpId: t.string(),
    tool: t.string(),
    decision: t.field({ type: AuditDecisionEnum }),
    outcomes: t.field({ type: [AuditOutcomeEnum] }),
    reasonSearch: t.string({ description: 'Words that must all appear in the reason.' }),
  }),
});

const UsageFilterInput = builder.inputType('UsageFilter', {
  fields: (t) => ({
    since: t.field({ type: 'DateTime' }),
    until: t.field({ type: 'DateTime' }),
    mcpId: t.string(),
    tool: t.string(),
    actorUserId: t.string(),
    actorClientId: t.string(),
  }),
});

/** GraphQL's explicit nulls become "not given" before validation. */
const withoutNulls = (value: object | null | undefined) =>
  Object.fromEntries(
    Object.entries(value ?? {}).filter(([, inner]) => inner !== null && inner !== undefined),
  );

const requireAuditor = (ctx: GraphqlContext) => {
  if (ctx.scope.kind !== 'all') throw forbidden('Only auditors and admins can see the chain status');
};

builder.queryType({
  fields: (t) => ({
    me: t.field({
      type: UserRef,
      nullable: true,
      resolve: (_root, _args, ctx) => ctx.loaders.user.load(ctx.userId),
    }),
    auditEvents: t.field({
      type: AuditEventConnectionRef,
      description: 'Audit events, newest first, filtered; a `user` sees only events they caused.',
      args: {
        filter: t.arg({ type: AuditEventFilterInput }),
        first: t.arg.int({ description: 'Page size, 1 to 200 (default 50).' }),
        after: t.arg.string(),
      },
      resolve: (_root, args, ctx) => {
        const filter = parseInput(AuditEventFilter, withoutNulls(args.filter), 'filter');
        const page = parseInput(
          AuditEventPage,
          withoutNulls({ first: args.first, after: args.after }),
          'page',
        );
        return ctx.explorer.events(ctx.scope, filter, page);
      },
    }),
    usage: t.field({
      type: [UsagePointRef],
      description: 'Tool-call usage per group and time bucket; a `user` sees only their own calls.',
      args: {
        groupBy: t.arg({ type: [UsageGroupByEnum] }),
        bucket: t.arg({ type: UsageBucketEnum, required: true }),
        filter: t.arg({ type: UsageFilterInput }),
      },
      resolve: (_root, args, ctx) =>
        ctx.explorer.usage(
          ctx.scope,
          parseInput(
            UsageQuery,
            withoutNulls({ groupBy: args.groupBy, bucket: args.bucket, filter: withoutNulls(args.filter) }),
            'usage',
          ),
        ),
    }),
    topTools: t.field({
      type: [UsagePointRef],
      description: 'The most called tools in the range (default: the last 30 days).',
      args: { limit: t.arg.int(), filter: t.arg({ type: UsageFilterInput }) },
      resolve: (_root, args, ctx) =>
        ctx.explorer.topTools(
          ctx.scope,
          parseInput(TopQuery, withoutNulls({ limit: args.limit, filter: withoutNulls(args.filter) }), 'top'),
        ),
    }),
    topUsers: t.field({
      type: [UsagePointRef],
      description: 'The users with the most tool calls in the range (default: the last 30 days).',
      args: { limit: t.arg.int(), filter: t.arg({ type: UsageFilterInput }) },
      resolve: (_root, args, ctx) =>
        ctx.explorer.topUsers(
          ctx.scope,
          parseInput(TopQuery, withoutNulls({ limit: args.limit, filter: withoutNulls(args.filter) }), 'top'),
        ),
    }),
    auditChainStatus: t.field({
      type: ChainStatusRef,
      description: 'Auditors and admins only.',
      resolve: (_root, _args, ctx) => {
        requireAuditor(ctx);
        return ctx.monitor.refresh();
      },
    }),
  }),
});

/** The explorer's schema: queries only, so there is nothing a forged cross-site request could change. */
export const explorerSchema = builder.toSchema();
