import { defineEntity, p } from '@mikro-orm/core';

/**
 * Append-only and hash-chained: a trigger refuses UPDATE/DELETE/TRUNCATE (migrations), and `hash` covers
 * `prev_hash` plus the canonical row, so editing or removing any row breaks verification.
 * No foreign keys: the trail outlives what it describes. Partitioned by month on `occurred_at`, with
 * generated columns, indexes and a usage rollup that only migration 0008 describes (ADR 0013).
 */
export const AuditEventEntity = defineEntity({
  name: 'AuditEvent',
  tableName: 'audit_event',
  properties: {
    id: p.bigint('number').primary().autoincrement(false),
    occurredAt: p.datetime().primary(),
    action: p.string().length(64),
    actorType: p.string().length(16),
    actorUserId: p.string().length(48).nullable(),
    actorTokenId: p.string().length(48).nullable(),
    actorClientId: p.string().length(48).nullable(),
    actorLabel: p.string().length(128).nullable(),
    targetType: p.string().length(32).nullable(),
    targetId: p.string().length(128).nullable(),
    targetLabel: p.string().length(256).nullable(),
    outcome: p.string().length(16),
    reason: p.string().length(500).nullable(),
    ip: p.string().length(64).nullable(),
    requestId: p.string().length(64).nullable(),
    details: p.json<Record<string, unknown>>(),
    prevHash: p.string().length(64),
    hash: p.string().length(64),
  },
});

/** The chain head (row id 1): locked FOR UPDATE by every append, which serializes the chain. */
export const AuditChainHeadEntity = defineEntity({
  name: 'AuditChainHead',
  tableName: 'audit_chain_head',
  properties: {
    id: p.integer().primary().autoincrement(false),
    lastSeq: p.bigint('number'),
    lastHash: p.string().length(64),
  },
});
