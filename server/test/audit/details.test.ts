import { AuditDetails, typedDetailActions } from '@gatehouse/schema';
import { type EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditDetailsError, emitStandaloneAudit, toAuditRecord } from '../../src/audit/emit.js';
import { ChangeBus } from '../../src/platform/change-bus.js';
import { loadConfig } from '../../src/platform/config.js';
import { systemContext } from '../../src/platform/context.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** Each (action, key) a generated column of `audit_event` reads, from the expressions PostgreSQL stores. */
function keysReadByAction(expression: string): [string, string][] {
  const pairs: [string, string][] = [];
  // A CASE reads keys in the branch of the actions its WHEN names: split into WHEN … THEN … branches.
  for (const branch of expression.split(/\bWHEN\b/i).slice(1)) {
    const [condition = '', result = ''] = branch.split(/\bTHEN\b/i);
    const actions = [...condition.matchAll(/'([a-z_]+\.[a-z_]+)'/g)].map((match) => match[1] ?? '');
    const keys = [...`${condition} ${result}`.matchAll(/details\s*->>?\s*'([^']+)'/g)].map(
      (match) => match[1] ?? '',
    );
    for (const action of actions) for (const key of keys) pairs.push([action, key]);
  }
  return pairs;
}

describe('typed audit details', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  const clock = new ManualClock(TEST_NOW);
  const anonymous = { actor: { type: 'anonymous' as const }, ip: '', requestId: '', clock };

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, { dbAppRole: undefined });
  });

  afterAll(async () => {
    await orm.close();
    await db.drop();
  });

  it('has a schema key for every details key a generated usage column reads, for its action', async () => {
    const columns = await db.query<{ name: string; expression: string }>(
      `select a.attname as name, pg_get_expr(d.adbin, d.adrelid) as expression
         from pg_attribute a join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = 'audit_event'::regclass and a.attgenerated = 's' order by a.attnum`,
    );
    expect(columns.map((column) => column.name)).toEqual([
      'tool',
      'call_status',
      'duration_ms',
      'result_bytes',
    ]);
    const pairs = columns.flatMap((column) => keysReadByAction(column.expression));
    // The parse found what migration 0008 reads (a parse that found nothing would prove nothing).
    expect(pairs).toEqual(
      expect.arrayContaining([
        ['tool.call', 'tool'],
        ['tool.denied', 'tool'],
        ['tool.call', 'status'],
        ['tool.call', 'durationMs'],
        ['tool.call', 'resultBytes'],
      ]),
    );
    for (const [action, key] of pairs) {
      expect(typedDetailActions, `${action} reads details keys, so its details are typed`).toContain(action);
      const schema = AuditDetails[action as (typeof typedDetailActions)[number]];
      expect(Object.keys(schema.shape), `${action}.${key}`).toContain(key);
    }
  });

  it('refuses details of the wrong shape when emitted: a renamed key is a bug, never written', async () => {
    const good = {
      tool: 'echo',
      status: 'ok',
      durationMs: 1.5,
      resultBytes: 3,
      argsBytes: 2,
      argsDigest: 'd',
    };
    expect(toAuditRecord(anonymous, { action: 'tool.call', details: good }).details).toEqual(good);
    const { durationMs, ...renamed } = good;
    for (const details of [
      { ...renamed, durationMS: durationMs },
      { ...good, status: 'fine' },
      { ...good, resultBytes: '3' },
    ]) {
      expect(() => toAuditRecord(anonymous, { action: 'tool.call', details })).toThrow(AuditDetailsError);
    }
    const before = await db.query(
      'select (select last_seq from audit_chain_head) as head, count(*) as events from audit_event',
    );
    const ctx = systemContext(orm.em.fork() as EntityManager, loadConfig({}), new ChangeBus(), clock);
    await expect(
      emitStandaloneAudit(ctx, { action: 'tool.denied', details: { tool: 'echo', reason: 'misplaced' } }),
    ).rejects.toThrow(AuditDetailsError);
    expect(
      await db.query(
        'select (select last_seq from audit_chain_head) as head, count(*) as events from audit_event',
      ),
    ).toEqual(before);
  });
});
