import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/chain.js';
import { AuditExplorer } from '../../src/audit/explorer.service.js';
import { AuditBatcher } from '../../src/audit/group-commit.js';
import { AuditReader } from '../../src/audit/reader.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { WireCounter } from './wire-counter.js';

const HOUR = 3_600_000;
const NOW = TEST_NOW;
const LOCK = `select pg_advisory_xact_lock(hashtext('gatehouse audit usage'))`;

function call(index: number, occurredAt: Date): AuditRecord {
  const denied = index % 7 === 0;
  return {
    action: denied ? 'tool.denied' : 'tool.call',
    occurredAt,
    actorType: 'client',
    actorUserId: index % 2 ? 'usr_fold00000001' : 'usr_fold00000002',
    actorTokenId: null,
    actorClientId: 'cli_fold00000001',
    actorLabel: 'fold/client',
    targetType: 'mcp',
    targetId: 'mcp_fold00000001',
    targetLabel: 'fold',
    outcome: denied ? 'denied' : 'success',
    reason: denied ? 'not subscribed' : null,
    ip: null,
    requestId: `r-${index}`,
    details: denied
      ? { tool: 'echo', argsBytes: 2, argsDigest: 'd' }
      : {
          tool: index % 3 ? 'echo' : 'add',
          status: index % 5 ? 'ok' : 'tool_error',
          durationMs: index,
          resultBytes: 10,
          argsBytes: 2,
          argsDigest: 'd',
        },
  };
}

describe('usage rollups folded off the insert path', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let batcher: AuditBatcher;
  let explorer: AuditExplorer;
  const written: AuditRecord[] = [];

  const append = async (records: AuditRecord[]) => {
    written.push(...records);
    await Promise.all(records.map((record) => batcher.append(record)));
  };
  /** What usage must say: calls per tool, counted from what was written. */
  const expected = () => {
    const calls: Record<string, number> = {};
    for (const record of written) {
      const tool = String(record.details.tool);
      calls[tool] = (calls[tool] ?? 0) + 1;
    }
    return calls;
  };
  /** Usage over three days (daily, hourly and event segments), and per hour (hourly and event segments). */
  const usage = async () => {
    const filter = { since: new Date(NOW.getTime() - 72 * HOUR - 1_000), until: NOW };
    const top = await explorer.topTools({ kind: 'all' }, { limit: 10, filter });
    const hourly = await explorer.usage({ kind: 'all' }, { groupBy: ['tool'], bucket: 'hour', filter });
    const sum = (points: { tool: string | null; calls: number }[]) => {
      const calls: Record<string, number> = {};
      for (const point of points) calls[point.tool ?? ''] = (calls[point.tool ?? ''] ?? 0) + point.calls;
      return calls;
    };
    return { top: sum(top), hourly: sum(hourly) };
  };
  const rolledUp = async () => {
    const calls: Record<string, number> = {};
    for (const table of [
      'audit_usage_hourly',
      'audit_usage_daily',
      'audit_actor_usage_hourly',
      'audit_actor_usage_daily',
    ]) {
      const [row] = await db.query<{ calls: string | null }>(`select sum(calls) as calls from ${table}`);
      calls[table] = Number(row?.calls ?? 0);
    }
    return calls;
  };
  const watermark = async () =>
    Number(
      (await db.query<{ through_id: string }>('select through_id from audit_usage_watermark'))[0]?.through_id,
    );
  const head = async () =>
    Number((await db.query<{ last_seq: string }>('select last_seq from audit_chain_head'))[0]?.last_seq);

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, { dbAppRole: undefined });
    await db.query('select audit_ensure_partitions($1, $2)', [
      new Date(NOW.getTime() - 40 * 24 * HOUR),
      new Date(NOW.getTime() + 24 * HOUR),
    ]);
    batcher = new AuditBatcher(db.url);
    explorer = new AuditExplorer(new AuditReader(db.url), new ManualClock(NOW));
  });

  afterAll(async () => {
    await batcher.close();
    await explorer.reader.close();
    await orm.close();
    await db.drop();
  });

  it('has no rollup trigger: a batch of calls writes only the events, and usage still counts every one', async () => {
    const triggers = await db.query<{ tgname: string }>(
      `select tgname from pg_trigger where tgrelid = 'audit_event'::regclass and not tgisinternal order by 1`,
    );
    expect(triggers.map((row) => row.tgname)).toEqual([
      'audit_event_no_truncate',
      'audit_event_no_update_delete',
    ]);
    // While another session holds the fold's lock nothing is folded, so the rollups are what the inserts did.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(LOCK);
      await append(
        Array.from({ length: 40 }, (_, i) => call(i + 1, new Date(NOW.getTime() - (i + 1) * 1.7 * HOUR))),
      );
      expect(Object.values(await rolledUp())).toEqual([0, 0, 0, 0]);
      expect((await db.query<{ n: number }>('select audit_fold_usage(1000) as n'))[0]?.n).toBe(-1);
      // Called, then read at once: every call counts, from the events above the watermark.
      expect(await usage()).toEqual({ top: expected(), hourly: expected() });
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
  });

  it('folds the events above the watermark once, and answers the same from rollups and tail', async () => {
    await batcher.usage.fold();
    expect(await watermark()).toBe(await head());
    const calls = written.length;
    expect(await rolledUp()).toEqual({
      audit_usage_hourly: calls,
      audit_usage_daily: calls,
      audit_actor_usage_hourly: calls,
      audit_actor_usage_daily: calls,
    });
    expect(await usage()).toEqual({ top: expected(), hourly: expected() });
    // New events in the hours already folded: rollups plus tail, then folded into the same rows.
    await append(
      Array.from({ length: 9 }, (_, i) => call(100 + i, new Date(NOW.getTime() - (i + 1) * 1.3 * HOUR))),
    );
    expect(await usage()).toEqual({ top: expected(), hourly: expected() });
    await batcher.usage.fold();
    await batcher.usage.fold();
    expect(await watermark()).toBe(await head());
    expect((await rolledUp()).audit_usage_hourly).toBe(written.length);
    expect(await usage()).toEqual({ top: expected(), hourly: expected() });
  });

  it('appends each batch with one statement and its commit, nothing else', async () => {
    const { counter, url } = await WireCounter.start(db.url);
    const own = new AuditBatcher(url);
    try {
      const at = (i: number) => new Date(NOW.getTime() - i * 60_000);
      await own.append(call(1001, at(1)));
      // One call at a time (N = 1): each pays one statement, in autocommit.
      for (let i = 2; i <= 6; i++) await own.append(call(1000 + i, at(i)));
      // Records arriving together share one statement.
      await Promise.all(Array.from({ length: 30 }, (_, i) => own.append(call(2000 + i, at(10 + i)))));
      const appends = counter.statements.filter((text) => !text.includes('audit_fold_usage'));
      expect(appends[0]).toBe('select last_seq, last_hash from audit_chain_head where id = 1');
      const rest = appends.slice(1);
      expect(rest.every((text) => text.startsWith('with head as ('))).toBe(true);
      // Six single calls, then the thirty in one batch (two if the first left while the others queued).
      expect(rest.length).toBeGreaterThanOrEqual(7);
      expect(rest.length).toBeLessThanOrEqual(8);
      expect(rest.some((text) => /\b(begin|commit)\b/i.test(text))).toBe(false);
    } finally {
      await own.close();
      await counter.close();
    }
  });
});
