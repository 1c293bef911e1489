import type { ActorType, AuditAction, AuditOutcome } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import { canonicalJson, chainHash } from '../crypto/index.js';

/** One audit record as written; `details` must already be free of secrets. */
export interface AuditRecord {
  action: AuditAction;
  occurredAt: Date;
  actorType: ActorType;
  actorUserId: string | null;
  actorTokenId: string | null;
  actorClientId: string | null;
  actorLabel: string | null;
  targetType: string | null;
  targetId: string | null;
  targetLabel: string | null;
  outcome: AuditOutcome;
  reason: string | null;
  ip: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface ChainedRecord extends AuditRecord {
  id: number;
  prevHash: string;
  hash: string;
}

/** A link's fields in canonical (sorted) order: the shape is fixed, so it is sorted once, not per record. */
const canonicalRowKeys = [
  'action',
  'actorClientId',
  'actorLabel',
  'actorTokenId',
  'actorType',
  'actorUserId',
  'details',
  'id',
  'ip',
  'occurredAt',
  'outcome',
  'prevHash',
  'reason',
  'requestId',
  'targetId',
  'targetLabel',
  'targetType',
] as const satisfies readonly (keyof Omit<ChainedRecord, 'hash'>)[];

/**
 * The exact content a link's hash covers: `canonicalJson` of the row, with timestamps as millisecond ISO
 * strings as PostgreSQL returns them. Built field by field because every tool call hashes one.
 */
export function canonicalAuditRow(record: Omit<ChainedRecord, 'hash'>): string {
  let out = '{';
  for (const key of canonicalRowKeys) {
    const value = key === 'occurredAt' ? record.occurredAt.toISOString() : record[key];
    out += `${out.length > 1 ? ',' : ''}"${key}":${canonicalJson(value)}`;
  }
  return `${out}}`;
}

export const auditColumns = [
  'id',
  'occurred_at',
  'action',
  'actor_type',
  'actor_user_id',
  'actor_token_id',
  'actor_client_id',
  'actor_label',
  'target_type',
  'target_id',
  'target_label',
  'outcome',
  'reason',
  'ip',
  'request_id',
  'details',
  'prev_hash',
  'hash',
] as const;

export interface ChainHead {
  seq: number;
  hash: string;
}

/** Gives each record the next sequence number and links it to the one before. */
export function linkRecords(head: ChainHead, records: AuditRecord[]): ChainedRecord[] {
  let seq = head.seq;
  let prevHash = head.hash;
  return records.map((record) => {
    seq += 1;
    const link = { ...record, id: seq, prevHash };
    const hash = chainHash(prevHash, canonicalAuditRow(link));
    prevHash = hash;
    return { ...link, hash };
  });
}

export function headAfter(chained: ChainedRecord[]): ChainHead {
  const last = chained.at(-1);
  if (!last) throw new Error('headAfter needs at least one record');
  return { seq: last.id, hash: last.hash };
}

/** Column values in `auditColumns` order. */
export function auditRowValues(row: ChainedRecord): unknown[] {
  return [
    row.id,
    row.occurredAt,
    row.action,
    row.actorType,
    row.actorUserId,
    row.actorTokenId,
    row.actorClientId,
    row.actorLabel,
    row.targetType,
    row.targetId,
    row.targetLabel,
    row.outcome,
    row.reason,
    row.ip,
    row.requestId,
    JSON.stringify(row.details),
    row.prevHash,
    row.hash,
  ];
}

/**
 * Appends records to the chain inside the caller's transaction. Locking the head row serializes appenders,
 * so sequence numbers are gapless and each record links to the one before; the commit makes them durable
 * together with the change they describe.
 */
export async function appendToChain(em: EntityManager, records: AuditRecord[]): Promise<ChainedRecord[]> {
  if (records.length === 0) return [];
  const connection = em.getConnection();
  const ctx = em.getTransactionContext();
  if (!ctx) throw new Error('appendToChain must run inside a transaction');
  const [head] = await connection.execute<{ last_seq: string; last_hash: string }[]>(
    'select last_seq, last_hash from audit_chain_head where id = 1 for update',
    [],
    'all',
    ctx,
  );
  if (!head) throw new Error('audit chain head is missing; migrations have not run');
  const chained = linkRecords({ seq: Number(head.last_seq), hash: head.last_hash }, records);
  const params: unknown[] = [];
  const tuples = chained.map((row) => {
    const values = auditRowValues(row);
    params.push(...values);
    return `(${values.map(() => '?').join(', ')})`;
  });
  await connection.execute(
    `insert into audit_event (${auditColumns.join(', ')}) values ${tuples.join(', ')}`,
    params,
    'run',
    ctx,
  );
  const next = headAfter(chained);
  await connection.execute(
    'update audit_chain_head set last_seq = ?, last_hash = ? where id = 1',
    [next.seq, next.hash],
    'run',
    ctx,
  );
  return chained;
}
