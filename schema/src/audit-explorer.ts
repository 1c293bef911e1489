import { z } from 'zod';
import { ActorType, AuditAction, AuditOutcome } from './audit.js';
import { ClientId, hasNoNul, McpId, NO_NUL_MESSAGE, UserId } from './common.js';

/** How a tool call ended: the dimension `usage` groups by as OUTCOME. */
export const CallStatus = z.enum(['ok', 'tool_error', 'failed', 'denied']);
export type CallStatus = z.infer<typeof CallStatus>;

export const AuditDecision = z.enum(['allow', 'deny']);
export type AuditDecision = z.infer<typeof AuditDecision>;

const ToolName = z.string().trim().min(1).max(256).refine(hasNoNul, NO_NUL_MESSAGE);

const TimeRange = z.object({
  since: z.date().optional(),
  until: z.date().optional(),
});

/** Filters on the audit trail; every one narrows the result (AND), lists match any of their members. */
export const AuditEventFilter = TimeRange.extend({
  types: z.array(AuditAction).min(1).max(AuditAction.options.length).optional(),
  actorUserId: UserId.optional(),
  actorClientId: ClientId.optional(),
  mcpId: McpId.optional(),
  tool: ToolName.optional(),
  decision: AuditDecision.optional(),
  outcomes: z.array(AuditOutcome).min(1).max(3).optional(),
  /** Words that must all appear in the reason (PostgreSQL `simple` text search). */
  reasonSearch: z.string().trim().min(1).max(200).refine(hasNoNul, NO_NUL_MESSAGE).optional(),
});
export type AuditEventFilter = z.infer<typeof AuditEventFilter>;

export const MAX_PAGE_SIZE = 200;
export const AuditEventPage = z.object({
  first: z.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  after: z.string().max(64).optional(),
});
export type AuditEventPage = z.infer<typeof AuditEventPage>;

/** Filters on tool-call usage. */
export const UsageFilter = TimeRange.extend({
  mcpId: McpId.optional(),
  tool: ToolName.optional(),
  actorUserId: UserId.optional(),
  actorClientId: ClientId.optional(),
});
export type UsageFilter = z.infer<typeof UsageFilter>;

export const UsageDimension = z.enum(['tool', 'mcp', 'user', 'client', 'outcome']);
export type UsageDimension = z.infer<typeof UsageDimension>;
export const UsageBucket = z.enum(['minute', 'hour', 'day', 'week']);
export type UsageBucket = z.infer<typeof UsageBucket>;

/** At most this many time buckets in one `usage` answer: a year of days, a week of minutes' worth is refused. */
export const MAX_USAGE_BUCKETS = 1500;

export const UsageQuery = z.object({
  groupBy: z.array(UsageDimension).max(UsageDimension.options.length).default([]),
  bucket: UsageBucket,
  filter: UsageFilter.default({}),
});
export type UsageQuery = z.infer<typeof UsageQuery>;

export const TopQuery = z.object({
  limit: z.number().int().min(1).max(100).default(10),
  filter: UsageFilter.default({}),
});
export type TopQuery = z.infer<typeof TopQuery>;

/** `gatehouse audit export` and `GET /api/audit/export`: a time range of whole chain links. */
export const AuditExportQuery = TimeRange;
export type AuditExportQuery = z.infer<typeof AuditExportQuery>;

const Hash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hex digest');
const Nullable = (max: number) => z.string().max(max).nullable();

/** One line of a JSONL export: every field the link's hash covers, plus the hash, so a receiver can verify. */
export const ExportedAuditEvent = z.object({
  id: z.number().int().positive(),
  occurredAt: z.iso.datetime(),
  action: z.string().max(64),
  actorType: ActorType,
  actorUserId: Nullable(48),
  actorTokenId: Nullable(48),
  actorClientId: Nullable(48),
  actorLabel: Nullable(128),
  targetType: Nullable(32),
  targetId: Nullable(128),
  targetLabel: Nullable(256),
  outcome: AuditOutcome,
  reason: Nullable(500),
  ip: Nullable(64),
  requestId: Nullable(64),
  details: z.record(z.string(), z.unknown()),
  prevHash: Hash,
  hash: Hash,
});
export type ExportedAuditEvent = z.infer<typeof ExportedAuditEvent>;

/** The export download's query string: ISO 8601 instants. */
export const AuditExportParams = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  format: z.literal('jsonl').default('jsonl'),
});
export type AuditExportParams = z.infer<typeof AuditExportParams>;

/** At most ten years of month partitions in one `gatehouse audit partitions` run. */
export const MAX_PARTITION_MONTHS = 120;

/** `gatehouse audit partitions --since … [--until …]`: months to create for an import or a restore. */
export const AuditPartitionsParams = z
  .object({
    since: z.iso.datetime({ offset: true }),
    until: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((range) => !range.until || Date.parse(range.since) < Date.parse(range.until), {
    path: ['until'],
    message: 'must be after since',
  });
export type AuditPartitionsParams = z.infer<typeof AuditPartitionsParams>;
