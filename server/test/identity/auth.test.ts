import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  auditRows,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

describe('portal sign-in, sessions and CSRF', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  const alice = {
    username: 'alice',
    displayName: 'Alice',
    email: 'alice@example.test',
    password: 'Secret-pass-for-tests-42',
    role: 'user' as const,
  };

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    await admin.users.create.mutate(alice);
  });
  afterAll(() => gh.stop());

  it('signs in with the right password, sets a hardened cookie, and audits the login', async () => {
    const client = portalClient(gh.portalUrl);
    const me = await client.signIn('alice', alice.password);
    expect(me.user.username).toBe('alice');
    const cookie = client.state.setCookies.find((c) => c.startsWith('gh_session='));
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Path=\//);
    const logins = await auditRows(gh, 'auth.login');
    expect(logins.at(-1)).toMatchObject({ actor_user_id: me.user.id, outcome: 'success', ip: '127.0.0.1' });
    expect(logins.at(-1)?.request_id).toMatch(/[0-9a-f-]{36}/);
  });

  it('answers a wrong password and an unknown user identically, and audits both without the password', async () => {
    const client = portalClient(gh.portalUrl);
    const wrong = await failureOf(
      client.auth.login.mutate({ username: 'alice', password: 'not-her-password' }),
    );
    const unknown = await failureOf(
      client.auth.login.mutate({ username: 'nobody-here', password: 'not-her-password' }),
    );
    expect(wrong).toEqual(unknown);
    expect(wrong).toMatchObject({
      code: 'UNAUTHENTICATED',
      status: 401,
      message: 'Invalid username or password',
    });
    const failures = await auditRows(gh, 'auth.login_failed');
    expect(failures.map((f) => f.reason)).toEqual(expect.arrayContaining(['wrong password', 'unknown user']));
    expect(JSON.stringify(failures)).not.toContain('not-her-password');
  });

  it('spends a password verification on unknown users too', async () => {
    const client = portalClient(gh.portalUrl);
    const time = async (username: string) => {
      const started = performance.now();
      await failureOf(client.auth.login.mutate({ username, password: 'timing-probe-pass' }));
      return performance.now() - started;
    };
    const median = (values: number[]) => values.sort((a, b) => a - b)[1] ?? 0;
    await admin.users.create.mutate({ ...alice, username: 'timing-user', email: 't@example.test' });
    const known = median([await time('timing-user'), await time('timing-user'), await time('timing-user')]);
    const unknown = median([
      await time('timing-ghost'),
      await time('timing-ghost'),
      await time('timing-ghost'),
    ]);
    // Argon2id dominates both; an early return for unknown users would be several times faster.
    expect(unknown).toBeGreaterThan(known * 0.5);
  });

  it('locks an account+address pair after 5 failures, even for the right password, and audits the lockout', async () => {
    await admin.users.create.mutate({
      ...alice,
      username: 'bob',
      email: 'bob@example.test',
      password: 'Another-secret-pass-77',
    });
    const client = portalClient(gh.portalUrl);
    for (let attempt = 0; attempt < 5; attempt++) {
      expect(
        (
          await failureOf(
            client.auth.login.mutate({ username: 'bob', password: `wrong-${attempt}-password` }),
          )
        ).code,
      ).toBe('UNAUTHENTICATED');
    }
    const locked = await failureOf(
      client.auth.login.mutate({ username: 'bob', password: 'Another-secret-pass-77' }),
    );
    expect(locked).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    const lockouts = await auditRows(gh, 'auth.lockout');
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]?.details).toMatchObject({ attemptedUsername: 'bob' });
    // Another account from the same address is unaffected.
    await expect(portalClient(gh.portalUrl).signIn('alice', alice.password)).resolves.toBeTruthy();
  });

  it("rejects a suspended user's live session on the very next request", async () => {
    await admin.users.create.mutate({ ...alice, username: 'carol', email: 'carol@example.test' });
    const carol = portalClient(gh.portalUrl);
    const me = await carol.signIn('carol', alice.password);
    expect((await carol.auth.me.query()).user.status).toBe('active');
    await admin.users.suspend.mutate({ id: me.user.id, reason: 'test' });
    expect(await failureOf(carol.auth.me.query())).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    const relogin = await failureOf(
      portalClient(gh.portalUrl).auth.login.mutate({ username: 'carol', password: alice.password }),
    );
    expect(relogin.code).toBe('UNAUTHENTICATED');
  });

  it('takes admin procedures away from a demoted admin on their next request', async () => {
    const dave = await admin.users.create.mutate({
      ...alice,
      username: 'dave',
      email: 'dave@example.test',
      role: 'admin',
    });
    const daveClient = portalClient(gh.portalUrl);
    await daveClient.signIn('dave', alice.password);
    await daveClient.groups.create.mutate({ name: 'dave-made' });
    await admin.users.update.mutate({ id: dave.id, role: 'user' });
    expect(await failureOf(daveClient.groups.create.mutate({ name: 'dave-again' }))).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
    });
    expect(await failureOf(daveClient.users.list.query({}))).toMatchObject({ code: 'FORBIDDEN' });
    expect((await daveClient.auth.me.query()).user.role).toBe('user');
  });

  it('refuses mutations without the CSRF header, from another origin, or with a forged token, and changes nothing', async () => {
    const before = await admin.groups.list.query();
    const noHeader = portalClient(gh.portalUrl, { csrf: false });
    noHeader.state.cookie = admin.state.cookie;
    expect(await failureOf(noHeader.groups.create.mutate({ name: 'csrf-1' }))).toMatchObject({
      code: 'CSRF_REJECTED',
      status: 403,
    });

    const crossSite = await fetch(`${gh.portalUrl}/trpc/groups.create`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: admin.state.cookie,
        origin: 'https://evil.example',
        'x-gatehouse-csrf': admin.state.csrfToken ?? '',
      },
      body: JSON.stringify({ name: 'csrf-2' }),
    });
    expect(crossSite.status).toBe(403);

    const forged = portalClient(gh.portalUrl);
    forged.state.cookie = admin.state.cookie;
    forged.state.csrfToken = 'f'.repeat(64);
    expect((await failureOf(forged.groups.create.mutate({ name: 'csrf-3' }))).code).toBe('CSRF_REJECTED');

    const noOrigin = portalClient(gh.portalUrl, { origin: false });
    noOrigin.state.cookie = admin.state.cookie;
    noOrigin.state.csrfToken = admin.state.csrfToken;
    expect((await failureOf(noOrigin.groups.create.mutate({ name: 'csrf-4' }))).code).toBe('CSRF_REJECTED');

    expect(await admin.groups.list.query()).toEqual(before);
  });

  it('ends the session at logout and audits it', async () => {
    const client = portalClient(gh.portalUrl);
    const me = await client.signIn('alice', alice.password);
    const stolenCookie = client.state.cookie;
    await client.auth.logout.mutate();
    const replay = portalClient(gh.portalUrl);
    replay.state.cookie = stolenCookie;
    expect((await failureOf(replay.auth.me.query())).code).toBe('UNAUTHENTICATED');
    expect((await auditRows(gh, 'auth.logout')).at(-1)).toMatchObject({ actor_user_id: me.user.id });
  });

  it('issues a new session token at every sign-in', async () => {
    const first = portalClient(gh.portalUrl);
    const second = portalClient(gh.portalUrl);
    await first.signIn(ADMIN.username, ADMIN.password);
    await second.signIn(ADMIN.username, ADMIN.password);
    expect(first.state.cookie).not.toEqual(second.state.cookie);
    expect(first.state.csrfToken).not.toEqual(second.state.csrfToken);
  });
});
