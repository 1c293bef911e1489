import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type EntityManager, MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/chain.js';
import { verifyExportFile } from '../../src/audit/export.js';
import { AuditBatcher } from '../../src/audit/group-commit.js';
import {
  createAuditPartitions,
  enforceAuditRetention,
  ensureAuditPartitions,
} from '../../src/audit/maintenance.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { ChangeBus } from '../../src/platform/change-bus.js';
import { loadConfig } from '../../src/platform/config.js';
import { systemContext } from '../../src/platform/context.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { ManualClock, monthStart, monthTag, TEST_NOW } from '../support/clock.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const DAY = 86_400_000;
const NOW = TEST_NOW;
/** Two months past the 365-day retention period, and the month after them. */
const OLDEST = monthStart(NOW, -14);
const OLDER = monthStart(NOW, -13);
const partitionName = (at: Date) => `audit_event_p${monthTag(at)}`;
const archiveName = (at: Date) => `audit-${monthTag(at)}.jsonl`;

function toolCall(occurredAt: Date, index: number): AuditRecord {
  return {
    action: 'tool.call',
    occurredAt,
    actorType: 'client',
    actorUserId: 'usr_retention0000',
    actorTokenId: null,
    actorClientId: 'cli_retention0000',
    actorLabel: 'ret/client',
    targetType: 'mcp',
    targetId: 'mcp_retention0000',
    targetLabel: 'ret',
    outcome: 'success',
    reason: null,
    ip: null,
    requestId: `r-${index}`,
    details: { tool: 'echo', status: 'ok', durationMs: 2, resultBytes: 10 },
  };
}

describe('audit partitions and retention', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let batcher: AuditBatcher;
  const archiveDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-archive-'));
  const config = () => loadConfig({ GATEHOUSE_DATA_DIR: archiveDir });
  const context = () =>
    systemContext(orm.em.fork() as EntityManager, config(), new ChangeBus(), new ManualClock(NOW));
  const partitionOf = async (id: number) =>
    (
      await db.query<{ partition: string }>(
        'select tableoid::regclass::text as partition from audit_event where id = $1',
        [id],
      )
    )[0]?.partition;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, { dbAppRole: undefined });
    // What a server running at NOW keeps ready, and the months an import of older history needs.
    await ensureAuditPartitions(orm.em.fork() as EntityManager, NOW);
    await db.query('select audit_ensure_partitions($1, $2)', [OLDEST, monthStart(NOW, -12)]);
    batcher = new AuditBatcher(db.url);
    // 14 and 13 months old, then recent (at a month's first instant, partly in the month before): ids grow
    // with time as they do in production.
    const times = [
      ...Array.from({ length: 5 }, (_, i) => new Date(OLDEST.getTime() + 9 * DAY + i * 3_600_000)),
      ...Array.from({ length: 4 }, (_, i) => new Date(OLDER.getTime() + 9 * DAY + i * 3_600_000)),
      ...Array.from({ length: 3 }, (_, i) => new Date(NOW.getTime() - (2 - i) * 60_000)),
    ];
    for (const [index, at] of times.entries()) await batcher.append(toolCall(at, index));
  });

  afterAll(async () => {
    await batcher.close();
    await orm.close();
    await db.drop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('stores each event in its month, keeps the rollup, and stays append-only on every partition', async () => {
    expect(await partitionOf(1)).toBe(partitionName(OLDEST));
    expect(await partitionOf(6)).toBe(partitionName(OLDER));
    await batcher.usage.fold();
    const [rollup] = await db.query<{ calls: string }>(
      'select sum(calls) as calls from audit_usage_hourly where period_start < $1',
      [monthStart(NOW, -12)],
    );
    expect(Number(rollup?.calls)).toBe(9);
    for (const statement of [
      'delete from audit_event where id = 1',
      `delete from ${partitionName(OLDEST)} where id = 1`,
      `update ${partitionName(OLDER)} set reason = 'x' where id = 6`,
      `truncate ${partitionName(OLDEST)}`,
      'truncate audit_event',
      'truncate audit_checkpoint',
    ]) {
      await expect(db.query(statement), statement).rejects.toThrow(/append-only/);
    }
  });

  it('creates month partitions on UTC boundaries whatever the session time zone', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query("set timezone = 'Europe/Berlin'");
      await client.query("select audit_ensure_partitions('2090-02-15T00:00:00Z', '2090-05-01T00:00:00Z')");
      const bounds = await client.query<{ name: string; bound: string }>(
        `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound from pg_inherits i
           join pg_class c on c.oid = i.inhrelid where c.relname ~ '^audit_event_p2090_0[234]$'
          order by 1`,
      );
      await client.query("set timezone = 'UTC'");
      const utc = await client.query<{ name: string; bound: string }>(
        `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound from pg_inherits i
           join pg_class c on c.oid = i.inhrelid where c.relname ~ '^audit_event_p2090_0[234]$'
          order by 1`,
      );
      expect(bounds.rows.map((row) => row.name)).toEqual([
        'audit_event_p2090_02',
        'audit_event_p2090_03',
        'audit_event_p2090_04',
      ]);
      expect(utc.rows.map((row) => row.bound)).toEqual([
        "FOR VALUES FROM ('2090-02-01 00:00:00+00') TO ('2090-03-01 00:00:00+00')",
        "FOR VALUES FROM ('2090-03-01 00:00:00+00') TO ('2090-04-01 00:00:00+00')",
        "FOR VALUES FROM ('2090-04-01 00:00:00+00') TO ('2090-05-01 00:00:00+00')",
      ]);
    } finally {
      await client.end();
    }
  });

  it('keeps three months ahead ready, and the month before while a new month is less than a day old', async () => {
    const names = async () =>
      (
        await db.query<{ name: string }>(
          "select relname as name from pg_class where relkind = 'r' and relname ~ '^audit_event_p208[89]_' order by 1",
        )
      ).map((row) => row.name);
    await ensureAuditPartitions(orm.em.fork() as EntityManager, new Date('2088-07-01T05:00:00Z'));
    expect(await names()).toEqual([
      'audit_event_p2088_06',
      'audit_event_p2088_07',
      'audit_event_p2088_08',
      'audit_event_p2088_09',
      'audit_event_p2088_10',
    ]);
    await ensureAuditPartitions(orm.em.fork() as EntityManager, new Date('2089-07-02T05:00:00Z'));
    expect((await names()).filter((name) => name.startsWith('audit_event_p2089'))).toEqual([
      'audit_event_p2089_07',
      'audit_event_p2089_08',
      'audit_event_p2089_09',
      'audit_event_p2089_10',
    ]);
  });

  it('drops nothing when the archive cannot be written, and leaves no partial file behind', async () => {
    const blocked = path.join(archiveDir, archiveName(OLDEST));
    mkdirSync(blocked);
    try {
      await expect(enforceAuditRetention(context(), { retentionDays: 365, archiveDir })).rejects.toThrow();
      expect(await partitionOf(1)).toBe(partitionName(OLDEST));
      expect(await db.query('select * from audit_checkpoint')).toEqual([]);
      expect(readdirSync(archiveDir).filter((file) => file.endsWith('.partial'))).toEqual([]);
    } finally {
      rmSync(blocked, { recursive: true });
    }
  });

  it('drops whole expired months, archiving them first, and verification continues from the checkpoint', async () => {
    const dropped = await enforceAuditRetention(context(), { retentionDays: 365, archiveDir });
    const withEvents = dropped.filter((partition) => partition.events > 0);
    expect(withEvents.map(({ partition, events, throughId }) => ({ partition, events, throughId }))).toEqual([
      { partition: partitionName(OLDEST), events: 5, throughId: 5 },
      { partition: partitionName(OLDER), events: 4, throughId: 9 },
    ]);
    expect(await db.query('select to_regclass($1) as gone', [partitionName(OLDEST)])).toEqual([
      { gone: null },
    ]);
    expect(await partitionOf(10)).toBe(partitionName(new Date(NOW.getTime() - 2 * 60_000)));
    expect(await partitionOf(12)).toBe(partitionName(NOW));

    const checkpoints = await db.query<{ through_id: string; through_hash: string }>(
      'select through_id, through_hash from audit_checkpoint order by id',
    );
    expect(checkpoints.map((row) => Number(row.through_id))).toEqual([5, 9]);
    const verified = await verifyAuditChain(orm.em.fork() as EntityManager);
    expect(verified).toMatchObject({ ok: true, anchor: { id: 9 } });
    const [next] = await db.query<{ prev_hash: string }>('select prev_hash from audit_event where id = 10');
    expect(checkpoints[1]?.through_hash).toBe(next?.prev_hash);
    await expect(db.query('delete from audit_checkpoint')).rejects.toThrow(/append-only/);

    for (const file of [archiveName(OLDEST), archiveName(OLDER)]) {
      const result = await verifyExportFile(path.join(archiveDir, file));
      expect(result, file).toMatchObject({ ok: true });
    }
    expect((await verifyExportFile(path.join(archiveDir, archiveName(OLDER)))).events).toBe(4);
    const [rollup] = await db.query<{ rows: string }>(
      'select count(*) as rows from audit_usage_hourly where period_start < $1',
      [monthStart(NOW, -12)],
    );
    expect(Number(rollup?.rows)).toBe(0);
    const audited = await db.query<{ actor_type: string; target_id: string; details: { events: number } }>(
      "select actor_type, target_id, details from audit_event where action = 'audit.retention' order by id",
    );
    expect(audited.filter((row) => row.details.events > 0)).toMatchObject([
      {
        actor_type: 'system',
        target_id: partitionName(OLDEST),
        details: { events: 5, throughId: 5, archived: true },
      },
      {
        actor_type: 'system',
        target_id: partitionName(OLDER),
        details: { events: 4, throughId: 9, archived: true },
      },
    ]);
    // Nothing more to drop until another month expires; without an archive directory nothing is written.
    const filesBefore = readdirSync(archiveDir).length;
    expect(await enforceAuditRetention(context(), { retentionDays: 365, archiveDir: undefined })).toEqual([]);
    expect(readdirSync(archiveDir)).toHaveLength(filesBefore);
    expect(existsSync(path.join(archiveDir, `${archiveName(OLDEST)}.partial`))).toBe(false);
  });

  it('lets a split application role append and create partitions, but not rewrite or drop history', async () => {
    const role = `gh_app_${randomBytes(4).toString('hex')}`;
    await db.query(`create role ${role} login password 'role-test-pass'`);
    await db.query(`grant usage on schema public to ${role}`);
    await db.query(`grant select, update on audit_chain_head to ${role}`);
    await migrate(orm, { dbAppRole: role });
    const url = new URL(db.url);
    url.username = role;
    url.password = 'role-test-pass';
    const app = new pg.Client({ connectionString: url.toString() });
    await app.connect();
    const appBatcher = new AuditBatcher(url.toString());
    try {
      await appBatcher.append(toolCall(NOW, 100));
      await appBatcher.drain();
      await appBatcher.usage.fold();
      await app.query("select audit_ensure_partitions($1, $1::timestamptz + interval '6 months')", [NOW]);
      const [rollup] = (await app.query('select sum(calls) as calls from audit_usage_hourly')).rows;
      expect(Number(rollup.calls)).toBeGreaterThan(3);
      await expect(app.query('delete from audit_event')).rejects.toThrow();
      // A temporary table of the same name does not capture the owner's rollup writes.
      await app.query('begin');
      await app.query('create temp table audit_usage_hourly (like public.audit_usage_hourly)');
      const [head] = (await app.query('select last_seq from audit_chain_head')).rows;
      await app.query(
        `insert into audit_event (id, occurred_at, action, actor_type, outcome, details, prev_hash, hash)
         values ($1, $4, 'tool.call', 'client', 'success', '{"tool":"shadow","status":"ok","durationMs":1}', $2, $3)`,
        [Number(head.last_seq) + 1, '0'.repeat(64), '1'.repeat(64), NOW],
      );
      // Wait for any fold already running (a batcher's scheduled fold, under load): the function only
      // try-locks, and this session then holds the same lock again, so the fold below always runs.
      await app.query("select pg_advisory_xact_lock(hashtext('gatehouse audit usage'))");
      await app.query('select audit_fold_usage(1000)');
      const real = (
        await app.query("select count(*)::int as n from public.audit_usage_hourly where tool = 'shadow'")
      ).rows[0];
      const shadow = (await app.query('select count(*)::int as n from pg_temp.audit_usage_hourly')).rows[0];
      await app.query('rollback');
      expect({ real: real.n, shadow: shadow.n }).toEqual({ real: 1, shadow: 0 });
      await expect(app.query('update audit_usage_hourly set calls = 0')).rejects.toThrow(/permission denied/);
      await expect(
        app.query(`alter table audit_event detach partition ${partitionName(NOW)}`),
      ).rejects.toThrow(/owner/);
    } finally {
      await appBatcher.close();
      await app.end();
      await db.query(`drop owned by ${role}`);
      await db.query(`drop role ${role}`);
    }
  });
  it('refuses an event whose month has no partition, until an operator creates that month', async () => {
    const monthAgo30 = monthStart(NOW, -30);
    const stray = new AuditBatcher(db.url);
    const countEvents = async () => Number((await db.query('select count(*) as n from audit_event'))[0]?.n);
    const before = await countEvents();
    try {
      await expect(stray.append(toolCall(new Date(monthAgo30.getTime() + DAY), 200))).rejects.toThrow(
        /no partition/,
      );
    } finally {
      await stray.close();
    }
    expect(await countEvents()).toBe(before);

    const created = await createAuditPartitions(context(), {
      since: monthAgo30,
      until: monthStart(NOW, -29),
    });
    expect(created).toEqual([partitionName(monthAgo30)]);
    const audited = await db.query<{ actor_type: string; details: { created: string[] } }>(
      "select actor_type, details from audit_event where action = 'audit.partitions' order by id",
    );
    expect(audited.at(-1)).toMatchObject({ actor_type: 'system', details: { created } });
    const auditedBefore = audited.length;

    // Creating what exists changes nothing and records nothing.
    expect(
      await createAuditPartitions(context(), { since: monthAgo30, until: monthStart(NOW, -29) }),
    ).toEqual([]);
    // A range is bounded before anything runs.
    await expect(
      createAuditPartitions(context(), { since: monthStart(NOW, -200), until: NOW }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const after = await db.query("select id from audit_event where action = 'audit.partitions'");
    expect(after).toHaveLength(auditedBefore);

    const importer = new AuditBatcher(db.url);
    try {
      await importer.append(toolCall(new Date(monthAgo30.getTime() + DAY), 201));
      await importer.drain();
    } finally {
      await importer.close();
    }
    expect(
      await db.query(
        "select tableoid::regclass::text as partition from audit_event where request_id = 'r-201'",
      ),
    ).toEqual([{ partition: partitionName(monthAgo30) }]);
    expect(await verifyAuditChain(orm.em.fork() as EntityManager)).toMatchObject({ ok: true });
  });
});
