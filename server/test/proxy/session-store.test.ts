import { randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/index.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { DomainError } from '../../src/platform/errors.js';
import { type NewSession, SessionBoundsError, SessionStore } from '../../src/proxy/session-store.js';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const KEY_A = sha256Hex('client key A');
const KEY_B = sha256Hex('client key B');
const MINUTE = 60_000;
/** Long enough that the batching timer never fires during a test: each test flushes explicitly. */
const NO_AUTO_FLUSH = { flushDelayMs: 3_600_000 };

interface Row {
  id_hash: string;
  key_hash: string;
  client_id: string;
  log_level: string;
  subscriptions: string[];
  last_activity_at: Date;
}

describe('SessionStore: MCP sessions as a row plus a cache (ADR 0030)', () => {
  let db: TestDatabase;
  /** Two ORMs with their own pools: two Gatehouse processes on one database. */
  let ormA: MikroORM;
  let ormB: MikroORM;
  let clock: ManualClock;
  /** Statements each process sent to PostgreSQL. */
  const statements = { a: 0, b: 0 };

  const session = (overrides: Partial<NewSession> = {}): NewSession => ({
    id: randomUUID(),
    keyHash: KEY_A,
    clientId: 'client-a',
    userId: 'user-1',
    view: null,
    protocolVersion: '2025-06-18',
    clientCapabilities: { sampling: {}, elicitation: {} },
    clientInfo: { name: 'test-client', version: '1.0.0' },
    ...overrides,
  });
  const rows = () => db.query<Row>('select * from mcp_session order by id_hash');
  const rowOf = async (id: string) =>
    (await db.query<Row>('select * from mcp_session where id_hash = $1', [sha256Hex(id)]))[0];
  /** A process that has never seen the session (cold cache). */
  const freshStore = (orm = ormB) => new SessionStore(orm, clock, NO_AUTO_FLUSH);

  beforeAll(async () => {
    db = await createTestDatabase();
    ormA = await MikroORM.init(ormConfig(db.url));
    ormB = await MikroORM.init(ormConfig(db.url));
    await migrate(ormA, { dbAppRole: undefined });
    for (const [name, orm] of [
      ['a', ormA],
      ['b', ormB],
    ] as const) {
      orm.em
        .getConnection()
        .getKnex()
        .on('query', () => {
          statements[name]++;
        });
    }
    await db.query(
      `insert into app_user (id, username, display_name, email, role, status, password_hash, created_at, updated_at)
       values ('user-1', 'alice', 'Alice', 'alice@example.test', 'user', 'active', 'x', $1, $1)`,
      [TEST_NOW],
    );
    for (const [id, key] of [
      ['client-a', KEY_A],
      ['client-b', KEY_B],
      ['client-gone', sha256Hex('client key gone')],
    ]) {
      await db.query(
        `insert into mcp_client (id, user_id, name, kind, status, key_hash, key_prefix, created_at)
         values ($1, 'user-1', $1, 'agent', 'active', $2, 'gh_', $3)`,
        [id, key, TEST_NOW],
      );
    }
  }, 60_000);

  afterAll(async () => {
    await ormA?.close();
    await ormB?.close();
    await db?.drop();
  });

  it('serves on process B a session created on process A, then from memory with no statement at all', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const b = freshStore();
    const created = await a.create(
      session({ view: 'github', clientCapabilities: { roots: { listChanged: true } } }),
    );

    const cold = statements.b;
    const served = await b.getFor(created.id, KEY_A);
    expect(statements.b).toBe(cold + 1);
    expect(served).toEqual({
      ...created,
      logLevel: 'info',
      subscriptions: [],
    });
    expect(served).toMatchObject({ view: 'github', clientCapabilities: { roots: { listChanged: true } } });

    const before = statements.b;
    for (let call = 0; call < 50; call++) {
      clock.advance(100);
      expect((await b.getFor(created.id, KEY_A))?.clientId).toBe('client-a');
      b.touch(created.id);
    }
    expect(statements.b).toBe(before);
    expect((await b.getFor(created.id, KEY_A))?.lastActivityAt).toEqual(clock.now());
  });

  it('refuses a wrong key hash on both processes, as if the session did not exist, and changes nothing', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const b = freshStore();
    const created = await a.create(session());
    const before = await rows();

    expect(await a.getFor(created.id, KEY_B)).toBeUndefined();
    expect(await b.getFor(created.id, KEY_B)).toBeUndefined();
    expect(await b.getFor(created.id, 'x'.repeat(500))).toBeUndefined();
    expect(await b.getFor(randomUUID(), KEY_A)).toBeUndefined();
    expect(b.cachedCount).toBe(0);
    a.touch(created.id);
    b.touch(created.id);
    await Promise.all([a.flushTouches(), b.flushTouches()]);
    expect(await rows()).toEqual(before);

    // The right key is still served by both.
    expect((await a.getFor(created.id, KEY_A))?.id).toBe(created.id);
    expect((await b.getFor(created.id, KEY_A))?.id).toBe(created.id);
  });

  it('writes last activity lazily: at most once a minute per session, batched into one statement', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const first = await a.create(session());
    const second = await a.create(session());
    const openedAt = clock.now();

    clock.advance(30_000);
    a.touch(first.id);
    a.touch(second.id);
    const idle = statements.a;
    await a.flushTouches();
    expect(statements.a).toBe(idle);
    expect((await rowOf(first.id))?.last_activity_at).toEqual(openedAt);
    expect(first.lastActivityAt).toEqual(clock.now());

    clock.advance(31_000);
    a.touch(first.id);
    a.touch(second.id);
    const due = clock.now();
    expect((await rowOf(first.id))?.last_activity_at).toEqual(openedAt);
    const before = statements.a;
    await a.flushTouches();
    expect(statements.a).toBe(before + 1);
    expect((await rowOf(first.id))?.last_activity_at).toEqual(due);
    expect((await rowOf(second.id))?.last_activity_at).toEqual(due);

    clock.advance(1_000);
    a.touch(first.id);
    await a.flushTouches();
    expect((await rowOf(first.id))?.last_activity_at).toEqual(due);

    // A process whose clock is behind never moves the row back.
    const behind = new ManualClock(openedAt);
    const b = new SessionStore(ormB, behind, { ...NO_AUTO_FLUSH, touchIntervalMs: 0 });
    await b.getFor(first.id, KEY_A);
    behind.advance(1);
    b.touch(first.id);
    await b.flushTouches();
    expect((await rowOf(first.id))?.last_activity_at).toEqual(due);
  });

  it('writes log level and subscriptions through to the row, seen by a process that opens the session later', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const created = await a.create(session());

    expect(await a.update(created.id, { logLevel: 'error', subscriptions: ['file:///a', 'file:///a'] })).toBe(
      true,
    );
    expect((await a.getFor(created.id, KEY_A))?.logLevel).toBe('error');
    expect(await rowOf(created.id)).toMatchObject({ log_level: 'error', subscriptions: ['file:///a'] });
    expect(await freshStore().getFor(created.id, KEY_A)).toMatchObject({
      logLevel: 'error',
      subscriptions: ['file:///a'],
    });

    expect(await a.update(randomUUID(), { logLevel: 'debug' })).toBe(false);
  });

  it('ends a session on A: its row is gone and neither process serves it', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const created = await a.create(session());
    const other = await a.create(session());

    expect(await a.end(created.id)).toBe(true);
    expect(await rowOf(created.id)).toBeUndefined();
    expect(await rowOf(other.id)).toBeDefined();
    expect(await a.getFor(created.id, KEY_A)).toBeUndefined();
    expect(await freshStore().getFor(created.id, KEY_A)).toBeUndefined();
    expect(await a.end(created.id)).toBe(false);

    // A process that still caches it learns on its next write that the row is gone, and forgets it.
    const b = freshStore();
    await b.getFor(other.id, KEY_A);
    await a.end(other.id);
    expect(await b.update(other.id, { logLevel: 'debug' })).toBe(false);
    expect(await b.getFor(other.id, KEY_A)).toBeUndefined();
  });

  it('counts sessions per client across processes, and drops them with their client', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const b = freshStore();
    const gone = sha256Hex('client key gone');
    await a.create(session({ clientId: 'client-gone', keyHash: gone }));
    await b.create(session({ clientId: 'client-gone', keyHash: gone }));
    await a.create(session({ clientId: 'client-b', keyHash: KEY_B }));
    expect(await a.countForClient('client-gone')).toBe(2);
    expect(await b.countForClient('client-gone')).toBe(2);

    await db.query(`delete from mcp_client where id = 'client-gone'`);
    expect(await a.countForClient('client-gone')).toBe(0);
    expect(await a.countForClient('client-b')).toBe(1);
  });

  it('expires idle sessions of every process in bulk, after writing its own recent activity', async () => {
    await db.query('delete from mcp_session');
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const b = new SessionStore(ormB, clock, NO_AUTO_FLUSH);
    const idle = await a.create(session());
    const idleOnB = await b.create(session());
    clock.advance(6 * MINUTE);
    const recent = await a.create(session());
    clock.advance(30_000);
    a.touch(recent.id); // under a minute: only in memory so far
    const cutoff = new Date(clock.now().getTime() - 10_000);
    expect(await rowOf(recent.id)).toMatchObject({ last_activity_at: new Date(cutoff.getTime() - 20_000) });

    const expired = await a.expireIdle(cutoff);
    expect(expired.count).toBe(2);
    expect(expired.local).toEqual([idle.id]);
    expect(expired.sessions).toHaveLength(2);
    expect(expired.sessions).toEqual(
      expect.arrayContaining(
        [idle, idleOnB].map((s) => ({
          idHash: sha256Hex(s.id),
          clientId: 'client-a',
          userId: 'user-1',
          lastActivityAt: TEST_NOW,
        })),
      ),
    );
    expect(await a.expireIdle(cutoff)).toEqual({ count: 0, sessions: [], local: [] });
    expect((await rows()).map((row) => row.id_hash)).toEqual([sha256Hex(recent.id)]);
    expect(await a.getFor(idle.id, KEY_A)).toBeUndefined();
    expect(await freshStore().getFor(idleOnB.id, KEY_A)).toBeUndefined();
    expect((await a.getFor(recent.id, KEY_A))?.id).toBe(recent.id);
  });

  it('refuses values over their bounds with a typed error and writes nothing', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const before = await rows();
    const huge = { experimental: { blob: 'x'.repeat(20_000) } };
    const attempts: NewSession[] = [
      session({ clientCapabilities: huge }),
      session({ clientInfo: { name: 'y'.repeat(5_000) } }),
      session({ clientCapabilities: [] as unknown as Record<string, unknown> }),
      session({ view: 'v'.repeat(25) }),
      session({ protocolVersion: '' }),
      session({ id: 'i'.repeat(257) }),
      session({ subscriptions: Array.from({ length: 101 }, (_, i) => `file:///${i}`) }),
      session({ logLevel: 'verbose' as NewSession['logLevel'] & string }),
      // What PostgreSQL itself would refuse (a 500 if it got there): NUL, lone surrogates.
      session({ clientCapabilities: { experimental: { nul: 'a\u0000b' } } }),
      session({ clientInfo: { name: 'half \uD800 pair' } }),
      session({ view: 'git\u0000hub' }),
      session({ subscriptions: ['file:///a\u0000'] }),
    ];
    for (const attempt of attempts) {
      const error = await a.create(attempt).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SessionBoundsError);
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).code).toBe('VALIDATION_FAILED');
      expect(await a.getFor(attempt.id, KEY_A)).toBeUndefined();
    }
    expect(await rows()).toEqual(before);
    expect(a.cachedCount).toBe(0);

    expect(await a.getFor(randomUUID(), `${KEY_A.slice(1)}\u0000`)).toBeUndefined();

    // Within the bound as JSON.stringify writes it, though jsonb's text form is half again as long.
    const spacedOut = { experimental: { list: Array.from({ length: 8_000 }, () => 0) } };
    const large = await a.create(
      session({ clientCapabilities: spacedOut, clientInfo: { name: 'ok \u{1F600}' } }),
    );
    expect((await freshStore().getFor(large.id, KEY_A))?.clientCapabilities).toEqual(spacedOut);

    const created = await a.create(session());
    const row = await rowOf(created.id);
    const tooMany = Array.from({ length: 101 }, (_, i) => `file:///${i}`);
    await expect(a.update(created.id, { subscriptions: tooMany })).rejects.toBeInstanceOf(SessionBoundsError);
    await expect(a.update(created.id, { subscriptions: ['u'.repeat(2_049)] })).rejects.toBeInstanceOf(
      SessionBoundsError,
    );
    expect(await rowOf(created.id)).toEqual(row);
    expect((await a.getFor(created.id, KEY_A))?.subscriptions).toEqual([]);
  });

  it('keeps a bounded cache; a session it evicted costs one read and is served again', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, { ...NO_AUTO_FLUSH, maxCached: 2 });
    const created = [await a.create(session()), await a.create(session()), await a.create(session())];
    expect(a.cachedCount).toBe(2);
    expect((await a.getFor(created[0]?.id ?? '', KEY_A))?.id).toBe(created[0]?.id);
    expect(a.cachedCount).toBe(2);
  });

  it('never holds a raw session id in the table', async () => {
    clock = new ManualClock();
    const a = new SessionStore(ormA, clock, NO_AUTO_FLUSH);
    const ids = [(await a.create(session())).id, (await a.create(session({ view: 'github' }))).id];
    const dump = (await db.query<{ row: string }>('select t::text as row from mcp_session t'))
      .map((r) => r.row)
      .join('\n');
    for (const id of ids) {
      expect(dump).not.toContain(id);
      expect(dump).toContain(sha256Hex(id));
    }
  });
});
