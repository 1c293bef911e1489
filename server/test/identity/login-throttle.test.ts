import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { type ClusterMember, startGatehouseOn } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN, type PortalClient, portalClient } from '../support/gatehouse.js';

const WINDOW_SECONDS = 900;
const SLOW_SECONDS = 60;
const PASSWORD = 'Plenty-long-passphrase-9';

describe('portal sign-in throttles, shared by every process on the database (ADR 0018)', () => {
  let db: TestDatabase;
  let a: ClusterMember;
  let b: ClusterMember;
  let admin: PortalClient;
  // Fixed relative to window boundaries (an hour start, plus a second): windows of 900 s start on it.
  const clock = new ManualClock(new Date(TEST_NOW.getTime() + 1000));

  /** A sign-in from `ip` (the trusted proxy in front says so), as the portal sends it. */
  const signIn = (member: ClusterMember, username: string, password: string, ip: string) =>
    fetch(`${member.portalUrl}/trpc/auth.login`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: member.portalUrl,
        'x-gatehouse-csrf': 'login',
        'x-forwarded-for': ip,
      },
      body: JSON.stringify({ username, password }),
    });
  const statusOf = async (response: Promise<Response>) => (await response).status;
  const rows = (action: string) =>
    db.query<{ reason: string; ip: string; details: Record<string, unknown> }>(
      'select reason, ip, details from audit_event where action = $1 order by id',
      [action],
    );
  const createUser = (username: string) =>
    admin.users.create.mutate({
      username,
      displayName: username,
      email: `${username}@example.test`,
      password: PASSWORD,
      role: 'user',
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = {
      GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
      GATEHOUSE_LOGIN_FAILURES_PER_PAIR: '3',
      GATEHOUSE_LOGIN_FAILURES_PER_IP: '5',
      GATEHOUSE_LOGIN_FAILURES_PER_ACCOUNT: '4',
      GATEHOUSE_LOGIN_WINDOW_SECONDS: String(WINDOW_SECONDS),
      GATEHOUSE_LOGIN_SLOW_ATTEMPT_SECONDS: String(SLOW_SECONDS),
    };
    a = await startGatehouseOn(db.url, { env, clock });
    b = await startGatehouseOn(db.url, { env, clock });
    admin = portalClient(a.portalUrl);
    admin.state.csrfToken = (await admin.setup.createFirstAdmin.mutate(ADMIN)).csrfToken;
  }, 120_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  it('locks an (account, address) pair whose failures were spread over two processes, with Retry-After', async () => {
    await createUser('pat');
    const ip = '198.51.100.1';
    expect(await statusOf(signIn(a, 'pat', 'wrong-password-1', ip))).toBe(401);
    expect(await statusOf(signIn(b, 'pat', 'wrong-password-2', ip))).toBe(401);
    expect(await statusOf(signIn(a, 'pat', 'wrong-password-3', ip))).toBe(401);
    const failuresBefore = (await rows('auth.login_failed')).length;

    const locked = await signIn(b, 'pat', PASSWORD, ip);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(
      ((await locked.json()) as { error: { data: { gatehouseCode: string } } }).error.data,
    ).toMatchObject({
      gatehouseCode: 'RATE_LIMITED',
    });
    // Refused before the password is checked: no new failure, no session.
    expect((await rows('auth.login_failed')).length).toBe(failuresBefore);
    expect(
      await db.query(
        "select 1 from portal_session s join app_user u on u.id = s.user_id where u.username = 'pat'",
      ),
    ).toEqual([]);
    expect((await rows('auth.lockout')).at(-1)).toMatchObject({
      reason: expect.stringContaining('one address'),
    });

    // Another address is unaffected; once the window is over (by the injected clock), the pair may try again.
    expect(await statusOf(signIn(a, 'pat', PASSWORD, '198.51.100.2'))).toBe(200);
    clock.advance(WINDOW_SECONDS * 1000);
    expect(await statusOf(signIn(b, 'pat', PASSWORD, ip))).toBe(200);
  });

  it('throttles password spraying: one address failing across many accounts', async () => {
    clock.advance(WINDOW_SECONDS * 1000);
    await createUser('rita');
    const sprayer = '203.0.113.7';
    for (let index = 0; index < 5; index++) {
      expect(await statusOf(signIn(index % 2 ? a : b, `victim-${index}`, 'Summer2026!', sprayer))).toBe(401);
    }
    const refused = await signIn(a, 'rita', PASSWORD, sprayer);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await rows('auth.lockout')).at(-1)).toMatchObject({ details: { limit: 'address' } });
    expect(await statusOf(signIn(b, 'rita', PASSWORD, '203.0.113.8'))).toBe(200);
  });

  it('slows guessing at one account from many addresses without locking its owner out of a known address', async () => {
    clock.advance(WINDOW_SECONDS * 1000);
    await createUser('quinn');
    const home = '192.0.2.10';
    expect(await statusOf(signIn(a, 'quinn', PASSWORD, home))).toBe(200);
    for (let index = 0; index < 4; index++) {
      expect(
        await statusOf(
          signIn(index % 2 ? a : b, 'quinn', `guess-${index}-password`, `192.0.2.${21 + index}`),
        ),
      ).toBe(401);
    }
    expect((await rows('auth.lockout')).at(-1)).toMatchObject({ details: { limit: 'account' } });
    // A new address is slowed, not locked: one attempt per interval (here a wrong guess), then 429 (even
    // with the right password, on either process) with a time to come back...
    const failuresBefore = (await rows('auth.login_failed')).length;
    expect(await statusOf(signIn(b, 'quinn', 'guess-x-password', '192.0.2.30'))).toBe(401);
    const stranger = await signIn(a, 'quinn', PASSWORD, '192.0.2.30');
    expect(stranger.status).toBe(429);
    expect(Number(stranger.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(stranger.headers.get('retry-after'))).toBeLessThanOrEqual(SLOW_SECONDS);
    expect(await statusOf(signIn(b, 'quinn', 'guess-y-password', '192.0.2.30'))).toBe(429);
    // Refused before the password was checked: one more failure (the allowed one), no session.
    expect((await rows('auth.login_failed')).length).toBe(failuresBefore + 1);
    expect(
      await db.query(
        "select 1 from portal_session s join app_user u on u.id = s.user_id where u.username = 'quinn' and s.ip = '192.0.2.30'",
      ),
    ).toEqual([]);
    // ...while the owner, from where she signed in before, is not locked out, on either process...
    expect(await statusOf(signIn(b, 'quinn', PASSWORD, home))).toBe(200);
    expect(await statusOf(signIn(a, 'quinn', PASSWORD, home))).toBe(200);
    // ...and from a new address she gets in after one interval, well before the window ends.
    clock.advance(SLOW_SECONDS * 1000);
    expect(await statusOf(signIn(a, 'quinn', PASSWORD, '192.0.2.30'))).toBe(200);
  });

  it('answers a flood of throttled attempts without writing per attempt, audited in aggregate', async () => {
    clock.advance(WINDOW_SECONDS * 1000);
    const ip = '198.51.100.99';
    for (let index = 0; index < 3; index++) await signIn(a, 'nobody', `wrong-${index}-password`, ip);
    expect(await statusOf(signIn(a, 'nobody', 'wrong-x-password', ip))).toBe(429);
    expect(await statusOf(signIn(b, 'nobody', 'wrong-y-password', ip))).toBe(429);
    const auditBefore = Number((await db.query('select count(*) as n from audit_event'))[0]?.n);
    const counters = await db.query('select bucket, hits from auth_throttle order by bucket');
    // Both processes know the pair is locked: with the counters locked, answers still come at once.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table auth_throttle in access exclusive mode');
    try {
      const statuses = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          statusOf(signIn(index % 2 ? a : b, 'nobody', `wrong-${index}-again`, ip)),
        ),
      );
      expect(new Set(statuses)).toEqual(new Set([429]));
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    expect(await db.query('select bucket, hits from auth_throttle order by bucket')).toEqual(counters);
    const auditAfter = Number((await db.query('select count(*) as n from audit_event'))[0]?.n);
    expect(auditAfter - auditBefore).toBeLessThanOrEqual(2);
    expect((await rows('auth.refused')).at(-1)).toMatchObject({
      reason: 'login_throttled',
      ip,
      details: { kind: 'login_throttled' },
    });
  });
});
