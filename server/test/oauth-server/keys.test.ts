import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterMember, startGatehouseOn } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

type Jwks = { keys: Record<string, unknown>[] };
const jwksOf = async (member: ClusterMember): Promise<Jwks> =>
  (await (await fetch(`${member.portalUrl}/oauth/jwks`)).json()) as Jwks;

/**
 * The authorization server's keys (ADR 0033): generated randomly per installation on first start, stored
 * sealed by the vault in PostgreSQL, and shared by every process on the database. No default secret.
 */
describe('authorization server keys', () => {
  let shared: TestDatabase;
  let other: TestDatabase;
  const members: ClusterMember[] = [];

  beforeAll(async () => {
    [shared, other] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    members.push(await startGatehouseOn(shared.url), await startGatehouseOn(shared.url));
    members.push(await startGatehouseOn(other.url));
  });

  afterAll(async () => {
    for (const member of members) await member.stop();
    await shared?.drop();
    await other?.drop();
  });

  it('are shared by every process on one database, differ between installations, and are stored sealed', async () => {
    const [first, second, elsewhere] = await Promise.all(members.map(jwksOf));
    expect(first?.keys).toHaveLength(1);
    // Public keys only, on the wire.
    expect(first?.keys[0]).not.toHaveProperty('d');
    expect(first?.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(second).toEqual(first);
    expect(elsewhere?.keys[0]?.kid).not.toBe(first?.keys[0]?.kid);
    expect(elsewhere?.keys[0]?.n).not.toBe(first?.keys[0]?.n);

    const rows = await shared.query<{ name: string; sealed: string }>(
      'select name, sealed from oauth_server_secret order by name',
    );
    expect(rows.map((row) => row.name)).toEqual(['cookie-keys', 'jwks']);
    for (const row of rows) {
      expect(row.sealed).toMatch(/^v1:[^:]+:[A-Za-z0-9+/=]+$/);
      expect(row.sealed).not.toContain(String(first?.keys[0]?.n).slice(0, 40));
    }
  });
});
