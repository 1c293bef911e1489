import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditReader } from '../../src/audit/reader.js';
import { DomainError } from '../../src/platform/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe("the explorer's database reader", () => {
  let db: TestDatabase;
  let reader: AuditReader;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.query('create table scratch (n int)');
    reader = new AuditReader(db.url, 200);
  });
  afterAll(async () => {
    await reader.close();
    await db.drop();
  });

  it('cannot change data: its sessions are read-only', async () => {
    await expect(reader.rows('insert into scratch values (1)')).rejects.toThrow(/read-only transaction/);
    expect(await db.query('select * from scratch')).toEqual([]);
  });

  it('cancels a statement past its timeout with a typed, actionable error', async () => {
    const slow = reader.rows('select pg_sleep(2)');
    await expect(slow).rejects.toBeInstanceOf(DomainError);
    await expect(slow).rejects.toMatchObject({
      code: 'CAPACITY_EXCEEDED',
      message: expect.stringMatching(/narrow/),
    });
    expect(await reader.rows<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('counts the statements it runs', async () => {
    const before = reader.statements;
    await reader.rows('select 1');
    await reader.rows('select $1::int as n', [2]);
    expect(reader.statements - before).toBe(2);
  });
});
