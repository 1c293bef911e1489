import { randomUUID } from 'node:crypto';
import type { AuditRecord } from '../../server/src/audit/chain.js';
import { AuditBatcher } from '../../server/src/audit/group-commit.js';

export interface AuditIngestResult {
  events: number;
  concurrency: number;
  seconds: number;
  eventsPerSecond: number;
}

const WRITERS = 2000;
/** The ingest's records share the run's chain; this actor tells them apart from real calls. */
export const INGEST_USER_ID = 'usr_bench_ingest';

/** A tool-call record as the gateway writes it (sizes and shape), with distinct ids. */
function toolCallRecord(index: number): AuditRecord {
  return {
    action: 'tool.call',
    occurredAt: new Date(),
    actorType: 'client',
    actorUserId: INGEST_USER_ID,
    actorTokenId: null,
    actorClientId: `cli_ingest_${index % 64}`,
    actorLabel: 'ingest/client',
    targetType: 'tool',
    targetId: 'mcp_ingest/echo',
    targetLabel: 'ingest__echo',
    outcome: 'success',
    reason: null,
    ip: '127.0.0.1',
    requestId: randomUUID(),
    details: {
      tool: 'echo',
      status: 'ok',
      durationMs: 1.25,
      resultBytes: 64,
      definitionHash: 'a'.repeat(64),
      argsBytes: 20,
      argsDigest: 'b'.repeat(64),
    },
  };
}

/**
 * The group-commit path on its own: many concurrent writers, each waiting for its record to be durable
 * before appending the next, as concurrent tool calls do.
 */
export async function measureAuditIngest(databaseUrl: string, events: number): Promise<AuditIngestResult> {
  const batcher = new AuditBatcher(databaseUrl);
  const writers = Math.min(WRITERS, events);
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (next < events) {
          await batcher.append(toolCallRecord(next++));
        }
      }),
    );
  } finally {
    await batcher.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    events,
    concurrency: writers,
    seconds: Math.round(seconds * 1000) / 1000,
    eventsPerSecond: Math.round(events / seconds),
  };
}
