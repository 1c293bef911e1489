import type { EntityManager } from '@mikro-orm/postgresql';
import { chainHash } from '../crypto/index.js';
import { auditColumns, type ChainedRecord, canonicalAuditRow } from './chain.js';

export const genesisHash = '0'.repeat(64);

/** The last link already trusted: the genesis (id 0), a retention checkpoint, or an earlier verification. */
export interface ChainAnchor {
  id: number;
  hash: string;
}

export type ChainVerification =
  | { ok: true; anchor: ChainAnchor; verifiedThrough: number; lastHash: string }
  | { ok: false; anchor: ChainAnchor; verifiedThrough: number; brokenAt: number; problem: string };

/** An `audit_event` row as the driver returns it. */
export interface AuditEventRow {
  id: string;
  occurred_at: Date;
  action: string;
  actor_type: string;
  actor_user_id: string | null;
  actor_token_id: string | null;
  actor_client_id: string | null;
  actor_label: string | null;
  target_type: string | null;
  target_id: string | null;
  target_label: string | null;
  outcome: string;
  reason: string | null;
  ip: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export function chainedRecordOf(row: AuditEventRow): ChainedRecord {
  return {
    id: Number(row.id),
    occurredAt: new Date(row.occurred_at),
    action: row.action as ChainedRecord['action'],
    actorType: row.actor_type as ChainedRecord['actorType'],
    actorUserId: row.actor_user_id,
    actorTokenId: row.actor_token_id,
    actorClientId: row.actor_client_id,
    actorLabel: row.actor_label,
    targetType: row.target_type,
    targetId: row.target_id,
    targetLabel: row.target_label,
    outcome: row.outcome as ChainedRecord['outcome'],
    reason: row.reason,
    ip: row.ip,
    requestId: row.request_id,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Walks links in id order from `anchor` and recomputes each one. Reports the first broken link: a changed
 * record (hash mismatch), a removed one (a gap in ids, or a prev_hash that does not match), or a reordered one.
 */
export async function verifyLinks(
  records: AsyncIterable<ChainedRecord> | Iterable<ChainedRecord>,
  anchor: ChainAnchor,
): Promise<ChainVerification> {
  let expectedId = anchor.id + 1;
  let expectedPrev = anchor.hash;
  for await (const record of records) {
    const fail = (problem: string): ChainVerification => ({
      ok: false,
      anchor,
      verifiedThrough: expectedId - 1,
      brokenAt: record.id,
      problem,
    });
    if (record.id !== expectedId) return fail(`event ${expectedId} is missing`);
    if (record.prevHash !== expectedPrev) return fail('prev_hash does not match the previous event');
    const { hash, ...link } = record;
    if (chainHash(record.prevHash, canonicalAuditRow(link)) !== hash) {
      return fail('content does not match its hash');
    }
    expectedPrev = hash;
    expectedId += 1;
  }
  return { ok: true, anchor, verifiedThrough: expectedId - 1, lastHash: expectedPrev };
}

/** The newest retention checkpoint: events up to it were dropped, so verification starts after it. */
export async function latestCheckpoint(em: EntityManager): Promise<ChainAnchor> {
  const [checkpoint] = await em
    .getConnection()
    .execute<{ through_id: string; through_hash: string }[]>(
      'select through_id, through_hash from audit_checkpoint order by through_id desc limit 1',
    );
  return checkpoint
    ? { id: Number(checkpoint.through_id), hash: checkpoint.through_hash }
    : { id: 0, hash: genesisHash };
}

/** Stored events with ids in (`afterId`, `throughId`], in id order, fetched in batches. */
export async function* storedRecords(
  em: EntityManager,
  afterId: number,
  throughId: number,
  batchSize = 5000,
): AsyncGenerator<ChainedRecord> {
  const connection = em.getConnection();
  let lastId = afterId;
  for (;;) {
    const rows = await connection.execute<AuditEventRow[]>(
      `select ${auditColumns.join(', ')} from audit_event where id > ? and id <= ? order by id limit ?`,
      [lastId, throughId, batchSize],
    );
    for (const row of rows) yield chainedRecordOf(row);
    if (rows.length < batchSize) return;
    lastId = Number(rows.at(-1)?.id);
  }
}

/**
 * Verifies the stored chain from `from` (default: the newest retention checkpoint, or the genesis) up to the
 * chain head read first, so events appended meanwhile do not count as missing; then checks that the table
 * holds everything the head records (a truncated tail).
 */
export async function verifyAuditChain(em: EntityManager, from?: ChainAnchor): Promise<ChainVerification> {
  const anchor = from ?? (await latestCheckpoint(em));
  const [head] = await em
    .getConnection()
    .execute<{ last_seq: string; last_hash: string }[]>(
      'select last_seq, last_hash from audit_chain_head where id = 1',
    );
  const headId = Number(head?.last_seq ?? 0);
  const result = await verifyLinks(storedRecords(em, anchor.id, headId), anchor);
  if (!result.ok) return result;
  if (result.verifiedThrough !== headId || (head && head.last_hash !== result.lastHash)) {
    return {
      ok: false,
      anchor,
      verifiedThrough: result.verifiedThrough,
      brokenAt: result.verifiedThrough + 1,
      problem: `events after ${result.verifiedThrough} are missing (chain head is at ${headId})`,
    };
  }
  return result;
}
