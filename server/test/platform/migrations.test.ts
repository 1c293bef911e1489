import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, ormConfig, pendingMigrations } from '../../src/platform/db.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('migrations', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await MikroORM.init(ormConfig(db.url));
  });
  afterAll(async () => {
    await orm.close();
    await db.drop();
  });

  it('migrate up from an empty database and leave nothing pending', async () => {
    expect(await pendingMigrations(orm)).toBeGreaterThan(0);
    const applied = await migrate(orm, { dbAppRole: undefined });
    expect(applied).toContain('Migration20261124000001Initial');
    expect(await pendingMigrations(orm)).toBe(0);
    expect(await migrate(orm, { dbAppRole: undefined })).toEqual([]);
  });

  it('produce exactly the schema the entities describe', async () => {
    const diff = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
  });

  it('seed the chain head, the installation row and the built-in everyone group', async () => {
    expect(await db.query('select id, last_seq from audit_chain_head')).toEqual([{ id: 1, last_seq: '0' }]);
    expect(await db.query('select setup_completed_at from installation')).toEqual([
      { setup_completed_at: null },
    ]);
    expect(await db.query('select name, built_in from user_group')).toEqual([
      { name: 'everyone', built_in: true },
    ]);
  });
});
