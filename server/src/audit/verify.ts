import type { EntityManager } from '@mikro-orm/postgresql';
import { chainHash } from '../crypto/index.js';
import { canonicalAuditRow } from './chain.js';

export type ChainVerification =
  | { ok: true; verifiedThrough: number }
  | { ok: false; verifiedThrough: number; brokenAt: number; problem: string };

interface RawRow {
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

/**
 * Walks the whole chain in id order and recomputes every link. Reports the first broken link: a changed row
 * (hash mismatch), a removed row (gap in ids or a prev_hash that does not match), or a truncated tail
 * (the head records more than the table holds).
 */
export async function verifyAuditChain(em: EntityManager, batchSize = 5000): Promise<ChainVerification> {
  const connection = em.getConnection();
  let expectedPrev = '0'.repeat(64);
  let expectedId = 1;
  let lastId = 0;
  for (;;) {
    const rows = await connection.execute<RawRow[]>(
      'select * from audit_event where id > ? order by id limit ?',
      [lastId, batchSize],
    );
    for (const row of rows) {
      const id = Number(row.id);
      const fail = (problem: string): ChainVerification => ({
        ok: false,
        verifiedThrough: expectedId - 1,
        brokenAt: id,
        problem,
      });
      if (id !== expectedId) return fail(`event ${expectedId} is missing`);
      if (row.prev_hash !== expectedPrev) return fail('prev_hash does not match the previous event');
      const canonical = canonicalAuditRow({
        id,
        occurredAt: new Date(row.occurred_at),
        action: row.action as never,
        actorType: row.actor_type as never,
        actorUserId: row.actor_user_id,
        actorTokenId: row.actor_token_id,
        actorClientId: row.actor_client_id,
        actorLabel: row.actor_label,
        targetType: row.target_type,
        targetId: row.target_id,
        targetLabel: row.target_label,
        outcome: row.outcome as never,
        reason: row.reason,
        ip: row.ip,
        requestId: row.request_id,
        details: row.details,
        prevHash: row.prev_hash,
      });
      if (chainHash(row.prev_hash, canonical) !== row.hash) return fail('content does not match its hash');
      expectedPrev = row.hash;
      expectedId = id + 1;
      lastId = id;
    }
    if (rows.length < batchSize) break;
  }
  const [head] = await connection.execute<{ last_seq: string; last_hash: string }[]>(
    'select last_seq, last_hash from audit_chain_head where id = 1',
  );
  if (head && (Number(head.last_seq) !== lastId || head.last_hash !== expectedPrev)) {
    return {
      ok: false,
      verifiedThrough: lastId,
      brokenAt: lastId + 1,
      problem: `events after ${lastId} are missing (chain head is at ${head.last_seq})`,
    };
  }
  return { ok: true, verifiedThrough: lastId };
}
