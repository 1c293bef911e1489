import { randomUUID } from 'node:crypto';
import type { AuditRecord } from '../../server/src/audit/chain.js';
import { AuditBatcher } from '../../server/src/audit/group-commit.js';

export interface AuditIngestResult {
  /** Events per run. */
  events: number;
  concurrency: number;
  /** Events/s of each run: PostgreSQL checkpoints and garbage collection make single runs noisy. */
  runs: number[];
  /** The median run. */
  eventsPerSecond: number;
}

const RUNS = 3;

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
  const writers = Math.min(WRITERS, events);
  const runs: number[] = [];
  for (let run = 0; run < RUNS; run++) runs.push(await ingestOnce(databaseUrl, events, writers));
  return {
    events,
    concurrency: writers,
    runs,
    eventsPerSecond: [...runs].sort((a, b) => a - b)[Math.floor(RUNS / 2)] ?? 0,
  };
}

async function ingestOnce(databaseUrl: string, events: number, writers: number): Promise<number> {
  const batcher = new AuditBatcher(databaseUrl);
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
  return Math.round(events / ((performance.now() - started) / 1000));
}
