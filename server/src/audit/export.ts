import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { type AuditExportQuery, ExportedAuditEvent } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ChainedRecord } from './chain.js';
import {
  type ChainAnchor,
  type ChainVerification,
  genesisHash,
  storedRecords,
  verifyLinks,
} from './verify.js';

/** One JSONL line: the fields the hash covers, in the canonical row's vocabulary, plus `hash`. */
export function exportLine(record: ChainedRecord): string {
  return `${JSON.stringify({ ...record, occurredAt: record.occurredAt.toISOString() })}\n`;
}

export interface ExportRange {
  /** The first and last event id exported; `null` when nothing matched. */
  fromId: number | null;
  throughId: number | null;
}

/**
 * The ids to export for a time range: every link from the first event at or after `since` to the last
 * before `until`, without gaps, so the file verifies as one piece of the chain even where timestamps of
 * neighbouring events straddle the range's edges by a few milliseconds.
 */
export async function exportRange(em: EntityManager, query: AuditExportQuery): Promise<ExportRange> {
  const [range] = await em.getConnection().execute<{ from_id: string | null; through_id: string | null }[]>(
    `select min(id) as from_id, max(id) as through_id from audit_event
      where occurred_at >= coalesce(?::timestamptz, '-infinity') and occurred_at < coalesce(?::timestamptz, 'infinity')`,
    [query.since ?? null, query.until ?? null],
  );
  return {
    fromId: range?.from_id ? Number(range.from_id) : null,
    throughId: range?.through_id ? Number(range.through_id) : null,
  };
}

/** The range's lines, read in batches so an export of millions of events streams in constant memory. */
export async function* exportLines(em: EntityManager, range: ExportRange): AsyncGenerator<string> {
  if (range.fromId === null || range.throughId === null) return;
  for await (const record of storedRecords(em, range.fromId - 1, range.throughId)) yield exportLine(record);
}

export type FileVerification = ChainVerification & { events: number };

export class ExportFormatError extends Error {}

async function* fileRecords(path: string, counter: { events: number }): AsyncGenerator<ChainedRecord> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    let parsed: ExportedAuditEvent;
    try {
      parsed = ExportedAuditEvent.parse(JSON.parse(line));
    } catch {
      throw new ExportFormatError(`line ${lineNumber} is not an exported audit event`);
    }
    counter.events += 1;
    yield {
      ...parsed,
      action: parsed.action as ChainedRecord['action'],
      occurredAt: new Date(parsed.occurredAt),
    };
  }
}

/**
 * Verifies an export on its own: consecutive ids, each `prevHash` equal to the previous `hash`, each hash
 * recomputed. The first line's `prevHash` is the anchor; a receiver compares it with the last hash of the
 * export before (or with the genesis when the file starts at event 1).
 */
export async function verifyExportFile(path: string): Promise<FileVerification> {
  const counter = { events: 0 };
  const records = fileRecords(path, counter);
  const first = await records.next();
  if (first.done)
    return {
      ok: true,
      anchor: { id: 0, hash: genesisHash },
      verifiedThrough: 0,
      lastHash: genesisHash,
      events: 0,
    };
  const anchor: ChainAnchor =
    first.value.id === 1
      ? { id: 0, hash: genesisHash }
      : { id: first.value.id - 1, hash: first.value.prevHash };
  async function* all(): AsyncGenerator<ChainedRecord> {
    yield first.value as ChainedRecord;
    yield* records;
  }
  const result = await verifyLinks(all(), anchor);
  return { ...result, events: counter.events };
}
