import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeBus } from '../../src/platform/change-bus.js';
import { ClientAccessCache } from '../../src/proxy/access.js';
import { ADMIN, portalClient, startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';

describe('the client access cache under a flood of unknown keys', () => {
  let gh: TestGatehouse;
  let key: string;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    const admin = portalClient(gh.portalUrl);
    admin.state.csrfToken = (await admin.setup.createFirstAdmin.mutate(ADMIN)).csrfToken;
    key = (await admin.clients.create.mutate({ name: 'Cached agent', kind: 'agent' })).key;
  }, 60_000);

  afterAll(async () => {
    await gh?.stop();
  });

  it('keeps valid clients cached however many unknown keys arrive, and bounds what it remembers of them', async () => {
    // A small bound stands in for the production one (10 000): the behaviour at the bound is the same.
    const cache = new ClientAccessCache(gh.database.orm, new ChangeBus(), { maxKnown: 1000, maxUnknown: 50 });
    const validHash = ClientAccessCache.hashOf(key);
    expect((await cache.resolve(validHash))?.clientName).toBe('Cached agent');

    const flood = Array.from({ length: 180 }, () =>
      ClientAccessCache.hashOf(`gh_ck_${randomBytes(24).toString('hex')}`),
    );
    for (let start = 0; start < flood.length; start += 30) {
      expect(await Promise.all(flood.slice(start, start + 30).map((hash) => cache.resolve(hash)))).toEqual(
        Array(30).fill(null),
      );
    }
    expect(cache.size).toEqual({ known: 1, unknown: 50 });

    // Still answered from memory: with the clients table locked, a lookup would wait.
    const locker = new pg.Client({ connectionString: gh.db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table mcp_client in access exclusive mode');
    try {
      expect(cache.peek(validHash)?.clientName).toBe('Cached agent');
      expect((await cache.resolve(validHash))?.clientName).toBe('Cached agent');
      // The most recent unknown keys are remembered too (no lookup); the oldest were let go.
      expect(await cache.resolve(flood.at(-1) ?? '')).toBeNull();
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
  });

  it('hashes malformed keys like well-formed ones, so both take the same lookup', () => {
    expect(ClientAccessCache.hashOf('not-a-key')).toMatch(/^[0-9a-f]{64}$/);
    expect(ClientAccessCache.isWellFormed('not-a-key')).toBe(false);
    expect(ClientAccessCache.isWellFormed(key)).toBe(true);
  });
});
