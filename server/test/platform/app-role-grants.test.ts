import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditBatcher } from '../../src/audit/group-commit.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { TEST_NOW } from '../support/clock.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The split application role set up exactly as docs/operations.md says, default privileges included: it
 * appends events and runs the fold, but cannot write the usage rollups or move their watermark itself.
 */

const ROLLUPS = [
  'audit_usage_hourly',
  'audit_usage_daily',
  'audit_actor_usage_hourly',
  'audit_actor_usage_daily',
];

describe('the split application role and the usage rollups', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let app: pg.Client;
  let appUrl: string;
  const role = `gh_app_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.query(`create role ${role} login password 'grants-test-pass'`);
    await db.query(`grant usage on schema public to ${role}`);
    // The documented default privileges, in force before the migrations create the tables.
    await db.query(
      `alter default privileges in schema public grant select, insert, update, delete on tables to ${role}`,
    );
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, { dbAppRole: role });
    await db.query('select audit_ensure_partitions($1, $1)', [TEST_NOW]);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'grants-test-pass';
    appUrl = url.toString();
    app = new pg.Client({ connectionString: appUrl });
    await app.connect();
  });

  afterAll(async () => {
    await app.end();
    await orm.close();
    await db.query(`drop owned by ${role}`);
    await db.drop();
    const admin = new pg.Client({ connectionString: new URL('/postgres', db.url).toString() });
    await admin.connect();
    await admin.query(`drop role ${role}`);
    await admin.end();
  });

  const snapshot = async () => {
    const rollups: number[] = [];
    for (const table of ROLLUPS) {
      rollups.push(Number((await db.query(`select count(*) as n from ${table}`))[0]?.n));
    }
    const watermark = await db.query('select id, through_id::text from audit_usage_watermark order by id');
    return { watermark: watermark.map((row) => ({ ...row })), rollups };
  };

  it('refuses the application any write on the rollups and the watermark, and changes nothing', async () => {
    const before = await snapshot();
    await expect(
      app.query('update audit_usage_watermark set through_id = through_id + 1000'),
    ).rejects.toThrow(/permission denied/);
    await expect(
      app.query('insert into audit_usage_watermark (id, through_id) values (2, 0)'),
    ).rejects.toThrow(/permission denied/);
    await expect(app.query('delete from audit_usage_watermark')).rejects.toThrow(/permission denied/);
    await expect(app.query('truncate audit_usage_watermark')).rejects.toThrow(/permission denied/);
    for (const table of ROLLUPS) {
      await expect(app.query(`delete from ${table}`)).rejects.toThrow(/permission denied/);
      await expect(app.query(`update ${table} set calls = 0`)).rejects.toThrow(/permission denied/);
      await expect(app.query(`truncate ${table}`)).rejects.toThrow(/permission denied/);
    }
    await expect(
      app.query('insert into audit_usage_hourly select * from audit_usage_hourly'),
    ).rejects.toThrow(/permission denied/);
    expect(await snapshot()).toEqual(before);
  });

  it('still folds usage as the application role, through the SECURITY DEFINER function', async () => {
    const batcher = new AuditBatcher(appUrl);
    try {
      for (let index = 0; index < 3; index++) {
        await batcher.append({
          action: 'tool.call',
          occurredAt: TEST_NOW,
          actorType: 'client',
          actorUserId: 'usr_grants000001',
          actorTokenId: null,
          actorClientId: 'cli_grants000001',
          actorLabel: 'grants/client',
          targetType: 'mcp',
          targetId: 'mcp_grants000001',
          targetLabel: 'grants',
          outcome: 'success',
          reason: null,
          ip: null,
          requestId: `g-${index}`,
          details: { tool: 'echo', status: 'ok', durationMs: 2, resultBytes: 10 },
        });
      }
      await batcher.drain();
      await batcher.usage.fold();
    } finally {
      await batcher.close();
    }
    const [hourly] = await db.query(
      "select sum(calls)::int as calls from audit_usage_hourly where tool = 'echo'",
    );
    expect(hourly?.calls).toBe(3);
    const [head] = await db.query('select last_seq::text as seq from audit_chain_head');
    const [mark] = await db.query('select through_id::text as through from audit_usage_watermark');
    expect(mark?.through).toBe(head?.seq);
  });
});
