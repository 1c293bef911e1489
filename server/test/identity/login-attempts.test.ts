import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, TEST_NOW } from '../support/clock.js';
import { type ClusterMember, startGatehouseOn } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN, type PortalClient, portalClient } from '../support/gatehouse.js';

const PER_PAIR = 3;
const PARALLEL = 24;
const PASSWORD = 'Plenty-long-passphrase-9';

describe('sign-in attempts are counted before the password is checked (ADR 0018)', () => {
  let db: TestDatabase;
  let a: ClusterMember;
  let b: ClusterMember;
  let admin: PortalClient;
  const clock = new ManualClock(new Date(TEST_NOW.getTime() + 1000));

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
    }).then((response) => response.status);
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await db.query<{ n: string }>(sql, params))[0]?.n);
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
      GATEHOUSE_LOGIN_FAILURES_PER_PAIR: String(PER_PAIR),
      GATEHOUSE_LOGIN_FAILURES_PER_IP: '1000',
      GATEHOUSE_LOGIN_FAILURES_PER_ACCOUNT: '1000',
      GATEHOUSE_LOGIN_WINDOW_SECONDS: '900',
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

  it('lets at most the pair limit of parallel wrong-password sign-ins (on two processes) reach a password check', async () => {
    await createUser('sam');
    const ip = '198.51.100.40';
    const statuses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) =>
        signIn(index % 2 ? a : b, 'sam', `wrong-password-${index}`, ip),
      ),
    );
    const checked = await count(
      `select count(*) as n from audit_event where action = 'auth.login_failed' and reason = 'wrong password'`,
    );
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(checked).toBeLessThanOrEqual(PER_PAIR);
    expect(statuses.filter((status) => status === 401).length).toBe(checked);
    expect(statuses.filter((status) => status === 429).length).toBe(PARALLEL - checked);
    // Still locked for the right password too, and nothing was created.
    expect(await signIn(a, 'sam', PASSWORD, ip)).toBe(429);
    expect(
      await count(
        "select count(*) as n from portal_session s join app_user u on u.id = s.user_id where u.username = 'sam'",
      ),
    ).toBe(0);
    // Refused attempts are not counted against the account: the owner signs in from elsewhere at once.
    expect(await signIn(b, 'sam', PASSWORD, '198.51.100.41')).toBe(200);
  });

  it('lets at most the pair limit of parallel wrong current passwords reach a check when changing a password', async () => {
    await createUser('tess');
    const tess = portalClient(a.portalUrl);
    await tess.signIn('tess', PASSWORD);
    const change = (index: number) =>
      fetch(`${(index % 2 ? a : b).portalUrl}/trpc/account.changePassword`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          origin: (index % 2 ? a : b).portalUrl,
          'x-gatehouse-csrf': tess.state.csrfToken ?? '',
          cookie: tess.state.cookie,
        },
        body: JSON.stringify({
          currentPassword: `not-the-password-${index}`,
          newPassword: 'Another-long-passphrase-7',
        }),
      }).then((response) => response.status);
    const hashBefore = await db.query("select password_hash from app_user where username = 'tess'");
    const statuses = await Promise.all(Array.from({ length: PARALLEL }, (_, index) => change(index)));
    const checked = await count(
      `select count(*) as n from audit_event where action = 'user.change_password' and outcome = 'failure'`,
    );
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(checked).toBeLessThanOrEqual(PER_PAIR);
    expect(statuses.filter((status) => status === 429).length).toBe(PARALLEL - checked);
    expect(await db.query("select password_hash from app_user where username = 'tess'")).toEqual(hashBefore);
  });
});
