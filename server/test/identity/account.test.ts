import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditRows,
  createSignedInUser,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const NEW_PASSWORD = 'Another-long-phrase-42';

describe('own password and portal sessions', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let adminId: string;

  const passwordHashOf = async (userId: string) =>
    (
      await gh.db.query<{ password_hash: string }>('select password_hash from app_user where id = $1', [
        userId,
      ])
    )[0]?.password_hash;
  const sessionIdsOf = async (userId: string) =>
    (
      await gh.db.query<{ id: string }>('select id from portal_session where user_id = $1 order by id', [
        userId,
      ])
    ).map((row) => row.id);

  /** A second browser of the same person. */
  async function anotherBrowser(username: string, password = PASSWORD) {
    const portal = portalClient(gh.portalUrl);
    await portal.signIn(username, password);
    return portal;
  }

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    adminId = (await admin.auth.me.query()).user.id;
  });
  afterAll(async () => {
    await gh.stop();
  });

  it('refuses a wrong current password or a weak new one, and changes nothing', async () => {
    const dana = await createSignedInUser(gh, admin, 'dana', PASSWORD);
    const laptop = await anotherBrowser('dana');
    const hashBefore = await passwordHashOf(dana.id);
    const sessionsBefore = await sessionIdsOf(dana.id);
    const successesBefore = (await auditRows(gh, 'user.change_password')).filter(
      (r) => r.outcome === 'success',
    );

    expect(
      await failureOf(
        dana.portal.account.changePassword.mutate({
          currentPassword: 'not-the-password',
          newPassword: NEW_PASSWORD,
        }),
      ),
    ).toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      fieldErrors: { currentPassword: ['is not your current password'] },
    });
    for (const [newPassword, problem] of [
      ['password1234', 'commonly used'],
      ['my-name-is-dana-ok', 'must not contain the username'],
      [PASSWORD, 'must differ from the current password'],
    ] as const) {
      const failed = await failureOf(
        dana.portal.account.changePassword.mutate({ currentPassword: PASSWORD, newPassword }),
      );
      expect(failed).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(failed.fieldErrors?.newPassword?.join(' ')).toContain(problem);
    }
    // Input bounds apply before anything is hashed.
    expect(
      await failureOf(
        dana.portal.account.changePassword.mutate({ currentPassword: PASSWORD, newPassword: 'short' }),
      ),
    ).toMatchObject({ code: 'VALIDATION_FAILED', fieldErrors: { newPassword: ['at least 12 characters'] } });

    expect(await passwordHashOf(dana.id)).toBe(hashBefore);
    expect(await sessionIdsOf(dana.id)).toEqual(sessionsBefore);
    expect((await laptop.auth.me.query()).user.username).toBe('dana');
    const failures = (await auditRows(gh, 'user.change_password')).filter((r) => r.outcome === 'failure');
    expect(failures.at(-1)).toMatchObject({
      actor_user_id: dana.id,
      target_id: dana.id,
      reason: 'wrong current password',
    });
    expect((await auditRows(gh, 'user.change_password')).filter((r) => r.outcome === 'success')).toEqual(
      successesBefore,
    );
    // Anonymous callers cannot reach it at all.
    expect(
      await failureOf(
        portalClient(gh.portalUrl).account.changePassword.mutate({
          currentPassword: PASSWORD,
          newPassword: NEW_PASSWORD,
        }),
      ),
    ).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('locks out guessing of the current password like sign-in does', async () => {
    const erin = await createSignedInUser(gh, admin, 'erin', PASSWORD);
    const guess = () =>
      failureOf(
        erin.portal.account.changePassword.mutate({
          currentPassword: 'guess-guess',
          newPassword: NEW_PASSWORD,
        }),
      );
    for (let attempt = 0; attempt < 5; attempt++) expect((await guess()).code).toBe('VALIDATION_FAILED');
    const hashBefore = await passwordHashOf(erin.id);
    // Even the right password is refused while locked.
    expect(
      await failureOf(
        erin.portal.account.changePassword.mutate({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD }),
      ),
    ).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(await passwordHashOf(erin.id)).toBe(hashBefore);
    expect((await auditRows(gh, 'auth.lockout')).some((row) => row.target_id === erin.id)).toBe(true);
  });

  it('changes the password, ends the other sessions and keeps the current one, audited with the actor', async () => {
    const frank = await createSignedInUser(gh, admin, 'frank', PASSWORD);
    const phone = await anotherBrowser('frank');
    const currentId = (await frank.portal.account.sessions.query()).items.find((s) => s.current)?.id;

    const result = await frank.portal.account.changePassword.mutate({
      currentPassword: PASSWORD,
      newPassword: NEW_PASSWORD,
    });
    expect(result).toEqual({ endedSessions: 1 });
    expect(await sessionIdsOf(frank.id)).toEqual([currentId]);
    expect((await frank.portal.auth.me.query()).user.username).toBe('frank');
    expect(await failureOf(phone.auth.me.query())).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(await failureOf(anotherBrowser('frank'))).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await anotherBrowser('frank', NEW_PASSWORD)).state.cookie).not.toBe('');

    const audited = (await auditRows(gh, 'user.change_password')).at(-1);
    expect(audited).toMatchObject({
      actor_type: 'user',
      actor_user_id: frank.id,
      target_id: frank.id,
      outcome: 'success',
      details: { endedSessions: 1 },
    });
    const everything = JSON.stringify(await auditRows(gh)) + gh.logs.join('');
    expect(everything).not.toContain(NEW_PASSWORD);
    expect(everything).not.toContain(PASSWORD);
  });

  it('lists only the caller’s live sessions without tokens, and ends one of them', async () => {
    const gina = await createSignedInUser(gh, admin, 'gina', PASSWORD);
    const tablet = await anotherBrowser('gina');
    const other = await createSignedInUser(gh, admin, 'hank', PASSWORD);

    const { items } = await gina.portal.account.sessions.query();
    expect(items).toHaveLength(2);
    expect(items.filter((s) => s.current)).toHaveLength(1);
    for (const session of items) {
      expect(Object.keys(session).sort()).toEqual([
        'createdAt',
        'current',
        'expiresAt',
        'id',
        'ip',
        'lastSeenAt',
        'userAgent',
      ]);
    }
    expect(JSON.stringify(items)).not.toContain(tablet.state.cookie.split('=')[1]);
    const tabletSession = items.find((s) => !s.current)?.id ?? '';

    // Someone else's session answers like an unknown one and stays.
    const hankSession = (await other.portal.account.sessions.query()).items[0]?.id ?? '';
    const auditBefore = (await auditRows(gh)).length;
    expect(await failureOf(gina.portal.account.endSession.mutate({ id: hankSession }))).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
    expect((await other.portal.auth.me.query()).user.username).toBe('hank');
    expect((await auditRows(gh)).length).toBe(auditBefore);

    await gina.portal.account.endSession.mutate({ id: tabletSession });
    expect(await failureOf(tablet.auth.me.query())).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await gina.portal.account.sessions.query()).items.map((s) => s.current)).toEqual([true]);
    expect((await auditRows(gh, 'auth.session_end')).at(-1)).toMatchObject({
      actor_user_id: gina.id,
      target_id: tabletSession,
      details: { current: false },
    });
  });

  it('lets an admin end every session of a user, and nobody else', async () => {
    const ivan = await createSignedInUser(gh, admin, 'ivan', PASSWORD);
    const desktop = await anotherBrowser('ivan');
    const mallory = await createSignedInUser(gh, admin, 'mallory', PASSWORD);

    const auditBefore = (await auditRows(gh)).length;
    expect(await failureOf(mallory.portal.users.endSessions.mutate({ id: ivan.id }))).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
    });
    expect(await sessionIdsOf(ivan.id)).toHaveLength(2);
    expect((await auditRows(gh)).length).toBe(auditBefore);

    expect(await admin.users.endSessions.mutate({ id: ivan.id, reason: 'laptop stolen' })).toEqual({
      ended: 2,
    });
    expect(await sessionIdsOf(ivan.id)).toEqual([]);
    expect(await failureOf(ivan.portal.auth.me.query())).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await failureOf(desktop.auth.me.query())).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await admin.users.get.query({ id: ivan.id })).status).toBe('active');
    await anotherBrowser('ivan');
    expect((await auditRows(gh, 'user.end_sessions')).at(-1)).toMatchObject({
      actor_user_id: adminId,
      target_id: ivan.id,
      reason: 'laptop stolen',
      details: { ended: 2 },
    });
  });
});
