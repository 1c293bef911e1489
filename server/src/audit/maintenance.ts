import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MAX_PARTITION_MONTHS } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { type ServiceContext, withTransaction } from '../platform/context.js';
import { validationFailed } from '../platform/errors.js';
import { emitAudit } from './emit.js';
import { usageRollupTables } from './explorer.service.js';
import { exportLine } from './export.js';
import { storedRecords } from './verify.js';

/** Months of partitions kept ready ahead of now, so an insert never finds no partition for its time. */
const MONTHS_AHEAD = 3;
/**
 * How far behind now partitions are also kept: a replica whose clock lags by up to this much at a month's
 * start still finds the previous month's partition. Anything older is an import or a restore: the operator
 * creates those months with `gatehouse audit partitions` (ADR 0015).
 */
const SKEW_ALLOWANCE_MS = 86_400_000;
const PARTITION_NAME = /^audit_event_p(\d{4})_(\d{2})$/;
const DAY_MS = 86_400_000;

/** Keeps the months from just before `now` to `MONTHS_AHEAD` after it ready (the server does this daily). */
export async function ensureAuditPartitions(em: EntityManager, now: Date): Promise<void> {
  await em
    .getConnection()
    .execute(
      `select audit_ensure_partitions(?::timestamptz, ?::timestamptz + interval '${MONTHS_AHEAD} months')`,
      [new Date(now.getTime() - SKEW_ALLOWANCE_MS), now],
    );
}

/**
 * Creates the month partitions from `since` up to `until` (default: now) that do not exist yet, for events
 * whose month has none (an import, a restored backup), and audits which it created. Months already dropped
 * by retention come back empty; the next retention run drops them again once they are past the period.
 */
export async function createAuditPartitions(
  ctx: ServiceContext,
  range: { since: Date; until?: Date },
): Promise<string[]> {
  const until = range.until ?? ctx.clock.now();
  const months =
    (until.getUTCFullYear() - range.since.getUTCFullYear()) * 12 +
    until.getUTCMonth() -
    range.since.getUTCMonth();
  if (months >= MAX_PARTITION_MONTHS) {
    throw validationFailed(
      { since: [`at most ${MAX_PARTITION_MONTHS} months at a time`] },
      `A range of at most ${MAX_PARTITION_MONTHS} months at a time`,
    );
  }
  return withTransaction(ctx, async (tx) => {
    const before = new Set((await monthPartitions(tx.em)).map((partition) => partition.name));
    await tx.em
      .getConnection()
      .execute('select audit_ensure_partitions(?::timestamptz, ?::timestamptz)', [range.since, until]);
    const created = (await monthPartitions(tx.em))
      .map((partition) => partition.name)
      .filter((name) => !before.has(name));
    if (created.length > 0) {
      await emitAudit(tx, {
        action: 'audit.partitions',
        details: { since: range.since.toISOString(), until: until.toISOString(), created },
      });
    }
    return created;
  });
}

interface MonthPartition {
  name: string;
  /** Exclusive upper bound: the first instant of the next month (UTC). */
  end: Date;
}

async function monthPartitions(em: EntityManager): Promise<MonthPartition[]> {
  const rows = await em.getConnection().execute<{ name: string }[]>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'audit_event'::regclass order by c.relname`,
  );
  return rows.flatMap(({ name }) => {
    const match = PARTITION_NAME.exec(name);
    if (!match) return [];
    return [{ name, end: new Date(Date.UTC(Number(match[1]), Number(match[2]), 1)) }];
  });
}

export interface DroppedPartition {
  partition: string;
  events: number;
  throughId: number | null;
  archiveFile: string | null;
}

/**
 * Writes a partition's events as JSONL under a name of its own, fsyncs and renames it, so a half-written
 * or concurrently written file never looks done; on any failure the partial file is removed.
 */
async function archivePartition(em: EntityManager, partition: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const final = path.join(dir, `${partition.replace('audit_event_p', 'audit-')}.jsonl`);
  const partial = `${final}.${process.pid}-${randomUUID()}.partial`;
  try {
    const [bounds] = await em
      .getConnection()
      .execute<{ min: string | null; max: string | null }[]>(
        `select min(id) as min, max(id) as max from ${partition}`,
      );
    async function* lines(): AsyncGenerator<string> {
      if (!bounds?.min || !bounds.max) return;
      for await (const record of storedRecords(em, Number(bounds.min) - 1, Number(bounds.max))) {
        yield exportLine(record);
      }
    }
    await pipeline(Readable.from(lines()), createWriteStream(partial, { mode: 0o600 }));
    const handle = await open(partial, 'r');
    await handle.sync();
    await handle.close();
    renameSync(partial, final);
    return final;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/**
 * Drops whole months whose every event is older than the retention period, oldest first. For each: export
 * it when an archive directory is configured, then in one transaction record a chain checkpoint (the last
 * hash and id the month held, so verification starts after it), audit the drop, and detach and drop the
 * partition with its usage rollup rows.
 */
export async function enforceAuditRetention(
  ctx: ServiceContext,
  settings: { retentionDays: number; archiveDir: string | undefined },
): Promise<DroppedPartition[]> {
  const horizon = new Date(ctx.clock.now().getTime() - settings.retentionDays * DAY_MS);
  const expired = (await monthPartitions(ctx.em)).filter((partition) => partition.end <= horizon);
  const dropped: DroppedPartition[] = [];
  for (const { name, end } of expired) {
    const archiveFile = settings.archiveDir
      ? await archivePartition(ctx.em, name, settings.archiveDir)
      : null;
    const result = await withTransaction(ctx, async (tx) => {
      const connection = tx.em.getConnection();
      const txCtx = tx.em.getTransactionContext();
      // One retention run at a time, across processes; a month another run dropped meanwhile is skipped.
      await connection.execute(
        `select pg_advisory_xact_lock(hashtext('gatehouse audit retention'))`,
        [],
        'all',
        txCtx,
      );
      // No usage fold runs while a month's rollup rows go (ADR 0027): it could re-add rows for the month.
      await connection.execute(
        `select pg_advisory_xact_lock(hashtext('gatehouse audit usage'))`,
        [],
        'all',
        txCtx,
      );
      const [present] = await connection.execute<{ found: string | null }[]>(
        'select to_regclass(?) as found',
        [name],
        'all',
        txCtx,
      );
      if (!present?.found) return null;
      // The head first, as every appender takes it; then the table, which DETACH needs exclusively. Appends
      // wait while the head is held, so waiting for the table is bounded: on timeout, retry another day.
      await connection.execute("set local lock_timeout = '2s'", [], 'run', txCtx);
      await connection.execute('select 1 from audit_chain_head where id = 1 for update', [], 'all', txCtx);
      await connection.execute('lock table audit_event in access exclusive mode', [], 'run', txCtx);
      const [last] = await connection.execute<{ id: string; hash: string; events: string }[]>(
        `select id, hash, (select count(*) from ${name}) as events from ${name} order by id desc limit 1`,
        [],
        'all',
        txCtx,
      );
      const events = Number(last?.events ?? 0);
      let throughId: number | null = null;
      if (last) {
        const [previous] = await connection.execute<{ through_id: string; through_hash: string }[]>(
          'select through_id, through_hash from audit_checkpoint order by through_id desc limit 1',
          [],
          'all',
          txCtx,
        );
        const newer = !previous || Number(last.id) > Number(previous.through_id);
        throughId = newer ? Number(last.id) : Number(previous.through_id);
        await connection.execute(
          `insert into audit_checkpoint (through_id, through_hash, dropped_events, partition_name, archive_file, created_at)
           values (?, ?, ?, ?, ?, now())`,
          [throughId, newer ? last.hash : previous.through_hash, events, name, archiveFile],
          'run',
          txCtx,
        );
      }
      await emitAudit(tx, {
        action: 'audit.retention',
        target: { type: 'audit_partition', id: name },
        details: {
          events,
          throughId,
          retentionDays: settings.retentionDays,
          archived: archiveFile !== null,
        },
      });
      await connection.execute(`alter table audit_event detach partition ${name}`, [], 'run', txCtx);
      await connection.execute(`drop table ${name}`, [], 'run', txCtx);
      for (const rollup of usageRollupTables) {
        await connection.execute(`delete from ${rollup} where period_start < ?`, [end], 'run', txCtx);
      }
      return { partition: name, events, throughId, archiveFile };
    });
    if (result) dropped.push(result);
  }
  return dropped;
}

/** Keeps partitions ahead of time and enforces retention, at start and then daily. */
export class AuditMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly context: () => ServiceContext,
    private readonly settings: { retentionDays: number; archiveDir: string | undefined },
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), DAY_MS);
    this.timer.unref();
  }

  runOnce(): Promise<void> {
    this.running ??= (async () => {
      try {
        const ctx = this.context();
        await ensureAuditPartitions(ctx.em, ctx.clock.now());
        // A split application role cannot detach or drop partitions: the owner runs `gatehouse audit retention`.
        if (ctx.config.dbAppRole) return;
        const dropped = await enforceAuditRetention(ctx, this.settings);
        for (const partition of dropped) this.log.info(partition, 'audit retention dropped a month');
      } catch (error) {
        this.log.error({ err: error }, 'audit maintenance failed');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
