import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** Migration 16 turns "no domains" of existing providers into the explicit "any domain" (ADR 0032). */
describe('the default-deny email domain migration', () => {
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

  it('keeps what existing providers did: an empty list becomes "any domain", a list stays default deny', async () => {
    await orm.getMigrator().up({ to: 'Migration20261203000013Sso' });
    const insert = (id: string, slug: string, domains: string[]) =>
      db.query(
        `insert into sso_provider (id, slug, display_name, issuer, client_id, scopes, groups_claim, group_mappings,
           role_mappings, allowed_domains, enabled, created_at, updated_at)
         values ($1, $2, $2, 'https://id.example.com', 'gatehouse', '["openid"]', 'groups', '[]', '[]', $3, true,
           '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')`,
        [id, slug, JSON.stringify(domains)],
      );
    await insert('ssoProvider_0000000001', 'open', []);
    await insert('ssoProvider_0000000002', 'listed', ['acme.test']);
    await migrate(orm, { dbAppRole: undefined });
    expect(await db.query('select slug, allow_any_domain from sso_provider order by slug')).toEqual([
      { slug: 'listed', allow_any_domain: false },
      { slug: 'open', allow_any_domain: true },
    ]);
  });
});
